import { Transform, type TransformCallback } from 'node:stream';

export class ImportFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImportFileError';
  }
}

const EMPTY = Buffer.alloc(0);

/**
 * Decodes a byte stream as strict UTF-8 (a leading BOM is dropped) and counts lines, so
 * an encoding error can name the line where it happened. Output is strings. A line ends
 * at LF, CRLF or a lone CR, as for the CSV parser.
 */
export class StrictUtf8Decoder extends Transform {
  private readonly decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });
  private line = 1;
  /** The last character decoded was a CR: a LF right after it ends no new line. */
  private afterCr = false;
  /** The start of a character the last chunk began but did not finish (0 to 3 bytes). */
  private pending: Buffer = EMPTY;

  constructor() {
    super({ readableObjectMode: false, decodeStrings: true, encoding: 'utf8' });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    let text: string;
    try {
      text = this.decoder.decode(chunk, { stream: true });
    } catch {
      done(this.encodingError(chunk));
      return;
    }
    this.pending = incompleteTail(chunk.length >= 4 ? chunk : Buffer.concat([this.pending, chunk]));
    this.countLines(text);
    done(null, text);
  }

  override _flush(done: TransformCallback): void {
    try {
      const rest = this.decoder.decode();
      this.countLines(rest);
      done(null, rest);
    } catch {
      done(new ImportFileError(`line ${this.line}: the file ends in the middle of a UTF-8 character; save it as UTF-8`));
    }
  }

  private countLines(text: string): void {
    if (text === '') return;
    const crlf = occurrences(text, '\r\n') + (this.afterCr && text.startsWith('\n') ? 1 : 0);
    this.line += occurrences(text, '\n') + occurrences(text, '\r') - crlf;
    this.afterCr = text.endsWith('\r');
  }

  private encodingError(chunk: Buffer): ImportFileError {
    // Find the line of the first bad byte: decode this chunk (with the unfinished character
    // the previous chunk ended with) line by line until one fails.
    const data = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    let line = this.line;
    let start = 0;
    for (let i = 0; i <= data.length; i++) {
      const byte = i < data.length ? data[i] : undefined;
      if (byte !== undefined && byte !== 0x0a && byte !== 0x0d) continue;
      try {
        new TextDecoder('utf-8', { fatal: true }).decode(data.subarray(start, i), { stream: byte === undefined });
      } catch {
        break;
      }
      if (byte === undefined) break;
      const afterCr = i === 0 ? this.afterCr : data[i - 1] === 0x0d;
      if (byte === 0x0d || !afterCr) line++;
      start = i + 1;
    }
    const looksUtf16 = chunk.length >= 2 && ((chunk[0] === 0xff && chunk[1] === 0xfe) || (chunk[0] === 0xfe && chunk[1] === 0xff));
    return new ImportFileError(
      `line ${line}: the file is not valid UTF-8${looksUtf16 ? ' (it looks like UTF-16)' : ''}; save it as UTF-8 and import it again`,
    );
  }
}

function occurrences(text: string, needle: string): number {
  let n = 0;
  for (let i = text.indexOf(needle); i !== -1; i = text.indexOf(needle, i + needle.length)) n++;
  return n;
}

/** The bytes of a character begun at the end of `data` but not finished there (already validated). */
function incompleteTail(data: Buffer): Buffer {
  for (let i = data.length - 1; i >= Math.max(0, data.length - 3); i--) {
    const byte = data[i]!;
    if (byte < 0x80) return EMPTY;
    if (byte >= 0xc0) {
      const size = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : 2;
      return data.length - i < size ? Buffer.from(data.subarray(i)) : EMPTY;
    }
  }
  return EMPTY;
}
