import { createHash, Hash } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Writes one archive file so that it either exists whole under its final name or not at all: written as a hidden
 * `.partial`, fsynced, renamed, and the directory fsynced, before any row is removed from the chain.
 */
export class ArchiveFileWriter {
  private readonly hash: Hash = createHash('sha256');
  private bytes = 0;

  private constructor(
    private readonly handle: FileHandle,
    private readonly dir: string,
    private readonly partialPath: string,
    private readonly fileName: string,
  ) {}

  static async create(dir: string, fileName: string): Promise<ArchiveFileWriter> {
    await mkdir(dir, { recursive: true });
    const partialPath = join(dir, `.${fileName}.partial`);
    return new ArchiveFileWriter(await open(partialPath, 'w', 0o640), dir, partialPath, fileName);
  }

  async write(text: string): Promise<void> {
    const chunk = Buffer.from(text, 'utf8');
    this.hash.update(chunk);
    this.bytes += chunk.length;
    await this.handle.write(chunk);
  }

  /** SHA-256 (hex) and length of everything written so far. */
  digest(): { sha256: string; bytes: number } {
    return { sha256: this.hash.copy().digest('hex'), bytes: this.bytes };
  }

  async commit(): Promise<void> {
    await this.handle.sync();
    await this.handle.close();
    await rename(this.partialPath, join(this.dir, this.fileName));
    const dir = await open(this.dir, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }

  async abandon(): Promise<void> {
    await this.handle.close().catch(() => undefined);
    await rm(this.partialPath, { force: true });
  }
}
