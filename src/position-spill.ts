import { Buffer } from 'node:buffer';
import { type FileHandle, mkdir, open, readFile, rm, rmdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** Lines a block holds: a few MB of result lines in memory when it is read back. */
const BLOCK_LINES = 4096;
/** Lines wait in memory up to this many characters a block before they are appended to its file. */
const FLUSH_CHARS = 64 * 1024;

interface Block {
  file: FileHandle | null;
  pending: string[];
  pendingChars: number;
}

/**
 * Puts lines that arrive in any order (a provider's output) back in the order of their positions
 * 0..count-1 without holding them all: each line goes to the scratch file of its block of
 * positions, and blocks are read back one at a time. Memory is one block and a small buffer per
 * block; disk is one more copy of the lines, usually still in the page cache when read back.
 */
export class PositionSpill {
  private readonly blocks: Block[];
  /** Where a block's lines are encoded before they are written, reused by every flush. */
  private readonly encoded = Buffer.allocUnsafe(FLUSH_CHARS * 4);

  private constructor(
    private readonly dir: string,
    private readonly count: number,
  ) {
    this.blocks = Array.from({ length: Math.ceil(count / BLOCK_LINES) }, () => ({
      file: null,
      pending: [],
      pendingChars: 0,
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
    const block = this.blockOf(position);
    const line = `${position}\t${text}\n`;
    block.pending.push(line);
    block.pendingChars += line.length;
    if (block.pendingChars >= FLUSH_CHARS) await this.flush(position);
  }

  /** Yields, per position in order, the line put there or undefined. */
  async *inOrder(): AsyncGenerator<string | undefined> {
    for (let index = 0; index < this.blocks.length; index++) {
      const first = index * BLOCK_LINES;
      await this.flush(first);
      const block = this.blockOf(first);
      await block.file?.close();
      block.file = null;
      const lines: (string | undefined)[] = [];
      const text = await readFile(this.pathOf(index), 'utf8').catch(() => '');
      for (
        let from = 0, nl = text.indexOf('\n');
        nl !== -1;
        from = nl + 1, nl = text.indexOf('\n', from)
      ) {
        const tab = text.indexOf('\t', from);
        lines[Number(text.slice(from, tab)) - first] = text.slice(tab + 1, nl);
      }
      const size = Math.min(BLOCK_LINES, this.count - first);
      for (let i = 0; i < size; i++) yield lines[i];
    }
  }

  /** Removes the scratch files, and their parent folder when nothing else is left in it. */
  async remove(): Promise<void> {
    await Promise.all(this.blocks.map((b) => b.file?.close().catch(() => {})));
    await rm(this.dir, { recursive: true, force: true });
    // Fails, as it should, while another spill still uses the folder.
    await rmdir(dirname(this.dir)).catch(() => {});
  }

  private blockOf(position: number): Block {
    return this.blocks[Math.floor(position / BLOCK_LINES)] as Block;
  }

  private pathOf(index: number): string {
    return join(this.dir, `block-${index}`);
  }

  private async flush(position: number): Promise<void> {
    const block = this.blockOf(position);
    if (block.pending.length === 0) return;
    const text = block.pending.join('');
    block.pending = [];
    block.pendingChars = 0;
    block.file ??= await open(this.pathOf(Math.floor(position / BLOCK_LINES)), 'w', 0o600);
    // A UTF-16 code unit takes at most 3 bytes of UTF-8.
    if (text.length * 3 <= this.encoded.length) {
      await block.file.write(this.encoded, 0, this.encoded.write(text));
    } else {
      await block.file.write(text);
    }
  }
}
