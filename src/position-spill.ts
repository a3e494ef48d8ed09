import { Buffer } from 'node:buffer';
import { type FileHandle, mkdir, open, rm, rmdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** Lines a block holds: a few MB of result lines in memory when it is read back. */
const BLOCK_LINES = 4096;
/** Bytes a block's lines wait in memory before they are appended to its file. */
const FLUSH_BYTES = 64 * 1024;

interface Block {
  file: FileHandle | null;
  /**
   * The block's lines not yet written, already encoded: held as strings until the flush, they
   * would be promoted to old space.
   */
  pending: Buffer | null;
  pendingBytes: number;
}

/**
 * Puts lines that arrive in any order (a provider's output) back in the order of their positions
 * 0..count-1 without holding them all: each line goes to the scratch file of its block of
 * positions, and blocks are read back one at a time. Memory is one block's bytes and a small
 * buffer per block; disk is one more copy of the lines, usually still in the page cache when
 * read back. Lines are strings only on their way in and out, one at a time: a block read back as
 * one string would be a few MB of V8's large-object space per block, collected only by a full GC.
 */
export class PositionSpill {
  private readonly blocks: Block[];
  /** A block's file read back, reused by every block (grown as needed). */
  private readBack = Buffer.alloc(0);

  private constructor(
    private readonly dir: string,
    private readonly count: number,
  ) {
    this.blocks = Array.from({ length: Math.ceil(count / BLOCK_LINES) }, () => ({
      file: null,
      pending: null,
      pendingBytes: 0,
    }));
  }

  /** Scratch files go to `dir`, which is emptied first: a rerun starts from nothing. */
  static async create(dir: string, count: number): Promise<PositionSpill> {
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true, mode: 0o700 });
    return new PositionSpill(dir, count);
  }

  /** Stores the line of one position; `text` must not contain a newline. */
  async put(position: number, text: string): Promise<void> {
    if (!(Number.isInteger(position) && position >= 0 && position < this.count)) {
      throw new RangeError(`position ${position} is outside 0..${this.count - 1}`);
    }
    const index = Math.floor(position / BLOCK_LINES);
    const block = this.blocks[index] as Block;
    const line = `${position}\t${text}\n`;
    // A UTF-16 code unit takes at most 3 bytes of UTF-8.
    if (block.pendingBytes + line.length * 3 > FLUSH_BYTES) await this.flush(index);
    if (line.length * 3 > FLUSH_BYTES) {
      await (await this.fileOf(index)).write(line);
      return;
    }
    block.pending ??= Buffer.allocUnsafe(FLUSH_BYTES);
    block.pendingBytes += block.pending.write(line, block.pendingBytes);
  }

  /** Yields, per position in order, the line put there or undefined. */
  async *inOrder(): AsyncGenerator<string | undefined> {
    // Where each position's line lies in the block read back; -1: none was put there.
    const starts = new Int32Array(BLOCK_LINES);
    const ends = new Int32Array(BLOCK_LINES);
    for (let index = 0; index < this.blocks.length; index++) {
      const first = index * BLOCK_LINES;
      const bytes = await this.readBlock(index);
      starts.fill(-1);
      for (
        let from = 0, nl = bytes.indexOf(0x0a);
        nl !== -1;
        from = nl + 1, nl = bytes.indexOf(0x0a, from)
      ) {
        const tab = bytes.indexOf(0x09, from);
        let position = 0;
        for (let i = from; i < tab; i++) position = position * 10 + ((bytes[i] as number) - 0x30);
        const at = position - first;
        starts[at] = tab + 1;
        ends[at] = nl;
      }
      const size = Math.min(BLOCK_LINES, this.count - first);
      for (let i = 0; i < size; i++) {
        const start = starts[i] as number;
        yield start === -1 ? undefined : bytes.toString('utf8', start, ends[i]);
      }
    }
  }

  /** Removes the scratch files, and their parent folder when nothing else is left in it. */
  async remove(): Promise<void> {
    await Promise.all(this.blocks.map((b) => b.file?.close().catch(() => {})));
    await rm(this.dir, { recursive: true, force: true });
    // Fails, as it should, while another spill still uses the folder.
    await rmdir(dirname(this.dir)).catch(() => {});
  }

  /** A block's lines, all of them written out and read back into the reused buffer. */
  private async readBlock(index: number): Promise<Buffer> {
    await this.flush(index);
    const block = this.blocks[index] as Block;
    block.pending = null;
    const file = block.file;
    if (!file) return this.readBack.subarray(0, 0);
    block.file = null;
    try {
      const { size } = await file.stat();
      // A quarter more than asked: later blocks are a little longer (their positions have more
      // digits), and each new buffer would stay until the next GC.
      if (this.readBack.length < size) this.readBack = Buffer.allocUnsafe(size + (size >> 2));
      let read = 0;
      while (read < size) {
        const { bytesRead } = await file.read(this.readBack, read, size - read, read);
        if (bytesRead === 0) break;
        read += bytesRead;
      }
      return this.readBack.subarray(0, read);
    } finally {
      await file.close();
    }
  }

  private async fileOf(index: number): Promise<FileHandle> {
    const block = this.blocks[index] as Block;
    block.file ??= await open(join(this.dir, `block-${index}`), 'w+', 0o600);
    return block.file;
  }

  private async flush(index: number): Promise<void> {
    const block = this.blocks[index] as Block;
    if (block.pendingBytes === 0 || !block.pending) return;
    const bytes = block.pendingBytes;
    block.pendingBytes = 0;
    const file = await this.fileOf(index);
    await file.write(block.pending, 0, bytes);
  }
}
