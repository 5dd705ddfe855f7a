// What a registry holds: repositories of OCI image manifests, their tags and blobs, addressed by
// real sha256 digests (OCI image-spec descriptor.md: `sha256:<hex>` of the exact bytes served).
// Every registry starts with `hello-world:latest`; the test handle adds more (seedImage).
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';

export const DEFAULT_REPOSITORY = 'hello-world';
export const DEFAULT_TAG = 'latest';

export const digestOf = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

interface Repository {
  tags: Map<string, string>;
  /** Manifest bytes by digest. */
  manifests: Map<string, Buffer>;
  /** Blobs this repository's manifests reference, by digest. */
  blobs: Map<string, Buffer>;
}

/**
 * A ustar archive of one file. Written by hand (a 512-byte header, the data padded to 512, two zero
 * blocks: POSIX.1-1988 ustar) because the emulator needs exactly one tiny deterministic layer and an
 * archive library would be a dependency for twenty lines.
 */
function tarOf(name: string, content: Buffer): Buffer {
  const header = Buffer.alloc(512);
  const field = (offset: number, length: number, value: string) =>
    header.write(value, offset, length, 'ascii');
  const octal = (n: number, length: number) => `${n.toString(8).padStart(length - 1, '0')}\0`;
  field(0, 100, name);
  field(100, 8, octal(0o644, 8));
  field(108, 8, octal(0, 8));
  field(116, 8, octal(0, 8));
  field(124, 12, octal(content.length, 12));
  field(136, 12, octal(0, 12)); // mtime 0: the same bytes, so the same digest, every run
  header.fill(' ', 148, 156);
  field(156, 1, '0');
  field(257, 6, 'ustar\0');
  field(263, 2, '00');
  const checksum = header.reduce((sum, byte) => sum + byte, 0);
  field(148, 8, `${checksum.toString(8).padStart(6, '0')}\0 `);
  const padded = Buffer.alloc(Math.ceil(content.length / 512) * 512);
  content.copy(padded);
  return Buffer.concat([header, padded, Buffer.alloc(1024)]);
}

export interface BuiltImage {
  manifest: Buffer;
  digest: string;
  blobs: Map<string, Buffer>;
}

/** A one-layer linux/amd64 OCI image whose only file says which repository and tag it was made for. */
export function buildImage(repository: string, tag: string): BuiltImage {
  const tar = tarOf('hello', Buffer.from(`Hello from ${repository}:${tag} in the emulated registry.\n`));
  const layer = gzipSync(tar, { level: 9 });
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: ['/hello'] },
      rootfs: { type: 'layers', diff_ids: [digestOf(tar)] },
      history: [{ created_by: `emulator seedImage ${repository}:${tag}` }],
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: digestOf(config), size: config.length },
      layers: [{ mediaType: OCI_LAYER_GZIP, digest: digestOf(layer), size: layer.length }],
    }),
  );
  return {
    manifest,
    digest: digestOf(manifest),
    blobs: new Map([
      [digestOf(config), config],
      [digestOf(layer), layer],
    ]),
  };
}

/** One registry's repositories. Repository names compare as given (the distribution spec's names are lowercase). */
export class RegistryContent {
  private readonly repositories = new Map<string, Repository>();

  constructor() {
    this.put(DEFAULT_REPOSITORY, DEFAULT_TAG);
  }

  /** Builds and stores an image under repository:tag (re-tagging if the tag existed); returns its digest. */
  put(repository: string, tag: string): string {
    const image = buildImage(repository, tag);
    let repo = this.repositories.get(repository);
    if (!repo) {
      repo = { tags: new Map(), manifests: new Map(), blobs: new Map() };
      this.repositories.set(repository, repo);
    }
    repo.manifests.set(image.digest, image.manifest);
    for (const [digest, bytes] of image.blobs) repo.blobs.set(digest, bytes);
    repo.tags.set(tag, image.digest);
    return image.digest;
  }

  hasRepository(repository: string): boolean {
    return this.repositories.has(repository);
  }

  /** The manifest by tag or digest, if the repository holds it. */
  manifest(repository: string, reference: string): { digest: string; bytes: Buffer } | undefined {
    const repo = this.repositories.get(repository);
    if (!repo) return undefined;
    const digest = reference.startsWith('sha256:') ? reference : repo.tags.get(reference);
    const bytes = digest === undefined ? undefined : repo.manifests.get(digest);
    return digest !== undefined && bytes ? { digest, bytes } : undefined;
  }

  /** The repository's tags, sorted (the distribution spec's tag listing is lexical). */
  tags(repository: string): string[] | undefined {
    const repo = this.repositories.get(repository);
    return repo ? [...repo.tags.keys()].sort() : undefined;
  }

  blob(repository: string, digest: string): Buffer | undefined {
    return this.repositories.get(repository)?.blobs.get(digest);
  }
}
