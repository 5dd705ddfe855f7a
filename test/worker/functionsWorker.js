// A stand-in for the Azure Functions Node.js worker, as far as an app can tell: it injects
// `@azure/functions-core` the way the worker does (the worker answers `require('@azure/functions-core')`
// itself; the module is not on npm), loads the app through package.json `main` (a glob, as the worker
// expands it: nothing matched is an error), and invokes the registered functions through the
// programming model the library set (getInvocationModel → getArguments → invokeFunction →
// getResponse) with the worker's RPC shapes (typed data: `{ json: "<string>" }`).
// Plain JavaScript, run with `node`: the built app is what is under test, not the sources.
//
// Usage: node functionsWorker.js <project root> [--main <pattern>] < invocations.json
// Prints one line `functions-worker-result {registered, files, results}` after what the app printed.

const fs = require('node:fs');
const Module = require('node:module');
const path = require('node:path');

/** Marks the stand-in's own line among what the app prints (its audit log lines, say). */
const RESULT_MARK = 'functions-worker-result ';
const registered = [];
const logs = [];
let programmingModel;
const core = {
  version: '3.10.1',
  get hostVersion() {
    return '4.1000.0';
  },
  setProgrammingModel(model) {
    programmingModel = model;
  },
  getProgrammingModel() {
    return programmingModel;
  },
  registerFunction(metadata, callback) {
    registered.push({ metadata, callback });
    return { dispose() {} };
  },
  registerHook() {
    return { dispose() {} };
  },
  log() {},
  Disposable: class {
    dispose() {}
  },
};
const load = Module._load;
Module._load = function (request, ...rest) {
  if (request === '@azure/functions-core') return core;
  return load.call(this, request, ...rest);
};

/** `dir/*.js`-style patterns (a `*` in the file name), the shape `main` takes here. */
function expandMain(root, pattern) {
  const full = path.resolve(root, pattern);
  const dir = path.dirname(full);
  const base = path.basename(full);
  if (dir.includes('*'))
    throw new Error(`main ${JSON.stringify(pattern)}: only a * in the file name is supported here`);
  const re = new RegExp(`^${base.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}$`);
  const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => re.test(f)) : [];
  return files.map((f) => path.join(dir, f));
}

async function invoke(spec, n) {
  const entry = registered.find((r) => r.metadata.name === spec.function);
  if (!entry) throw new Error(`no function ${JSON.stringify(spec.function)} was registered`);
  const triggerName = Object.entries(entry.metadata.bindings).find(
    ([, b]) => b.direction === 'in' && /Trigger$/.test(b.type),
  )?.[0];
  const coreCtx = {
    invocationId: `invocation-${n}`,
    metadata: entry.metadata,
    request: {
      invocationId: `invocation-${n}`,
      functionId: entry.metadata.name,
      inputData: [{ name: triggerName, data: spec.data }],
      triggerMetadata: spec.triggerMetadata ?? {},
    },
    state: undefined,
    // The worker sends what the function logs (context.log…) to the host as RPC log messages.
    log(level, category, message) {
      logs.push({ function: spec.function, level, category, message });
    },
  };
  const model = programmingModel.getInvocationModel(coreCtx);
  const { context, inputs } = await model.getArguments();
  const result = await model.invokeFunction(context, inputs, entry.callback);
  return model.getResponse(context, result);
}

async function main() {
  const [root, ...args] = process.argv.slice(2);
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  const mainAt = args.indexOf('--main');
  const pattern = mainAt >= 0 ? args[mainAt + 1] : pkg.main;
  const files = expandMain(root, pattern);
  if (files.length === 0)
    throw new Error(`main ${JSON.stringify(pattern)} matches no file (is the app built?)`);
  for (const file of files) require(file);
  if (!programmingModel) throw new Error('the app set no programming model');
  const invocations = JSON.parse(fs.readFileSync(0, 'utf8') || '[]');
  const results = [];
  for (const [i, spec] of invocations.entries()) {
    try {
      results.push({ response: await invoke(spec, i) });
    } catch (error) {
      results.push({ error: String(error?.message ?? error) });
    }
  }
  process.stdout.write(
    `${RESULT_MARK}${JSON.stringify({ registered: registered.map((r) => r.metadata), files: files.map((f) => path.relative(root, f)), results, logs })}\n`,
  );
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`functions worker stand-in: ${error?.message ?? error}\n`);
    process.exit(1);
  },
);
