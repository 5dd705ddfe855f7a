import { conditionAllows } from '../../../src/core/abacCondition';

const CONTENT_READ = 'Microsoft.ContainerRegistry/registries/repositories/content/read';
const PULL_READ = 'Microsoft.ContainerRegistry/registries/pull/read';
const onRepos = (operator: string, value: string) =>
  `((!(ActionMatches{'${CONTENT_READ}'})) OR (@Resource[Microsoft.ContainerRegistry/registries/repositories:name] ${operator} ${value}))`;

describe('ABAC conditions on repository permissions', () => {
  it.each([
    ['StringEquals', "'team-a/web'", 'team-a/web', true],
    ['StringEquals', "'team-a/web'", 'Team-A/web', false],
    ['StringEqualsIgnoreCase', "'team-a/web'", 'Team-A/Web', true],
    ['StringStartsWith', "'team-a/'", 'team-a/api', true],
    ['StringStartsWith', "'team-a/'", 'team-b/api', false],
    ['StringStartsWithIgnoreCase', "'TEAM-A/'", 'team-a/api', true],
    ['StringLike', "'team-?/*'", 'team-b/api', true],
    ['StringLike', "'team-?/*'", 'TEAM-b/api', false],
    ['StringNotEquals', "'hello-world'", 'hello-world', false],
    ['ForAnyOfAnyValues:StringEquals', "{'a', 'hello-world'}", 'hello-world', true],
    ['ForAnyOfAnyValues:StringEquals', "{'a', 'b'}", 'hello-world', false],
  ])('%s %s on %s → %s', (operator, value, repository, expected) => {
    expect(conditionAllows(onRepos(operator, value), { action: CONTENT_READ, repository })).toBe(expected);
  });

  it('lets an action the condition does not target through (its ActionMatches guard)', () => {
    const condition = onRepos('StringEquals', "'team-a/web'");
    expect(conditionAllows(condition, { action: PULL_READ, repository: 'other' })).toBe(true);
    expect(conditionAllows(condition, { action: CONTENT_READ, repository: 'other' })).toBe(false);
  });

  it('reads AND, OR, NOT and parentheses with their precedence', () => {
    const attr = '@Resource[Microsoft.ContainerRegistry/registries/repositories:name]';
    const c = `${attr} StringEquals 'a' OR ${attr} StringEquals 'b' AND NOT ${attr} StringEquals 'b'`;
    expect(conditionAllows(c, { action: CONTENT_READ, repository: 'a' })).toBe(true);
    expect(conditionAllows(c, { action: CONTENT_READ, repository: 'b' })).toBe(false);
    expect(conditionAllows(`(${c})`, { action: CONTENT_READ, repository: 'a' })).toBe(true);
  });

  it.each([
    ["@Resource[Microsoft.Storage/storageAccounts/blobServices/containers:name] StringEquals 'x'"],
    ["@Resource[Microsoft.ContainerRegistry/registries/repositories:name] NumericEquals '1'"],
    ["@Resource[Microsoft.ContainerRegistry/registries/repositories:name] StringEquals 'unterminated"],
    ['(ActionMatches{'],
    [''],
  ])('cannot tell (never a guess) for %s', (condition) => {
    expect(conditionAllows(condition, { action: CONTENT_READ, repository: 'x' })).toBeUndefined();
  });
});
