import { Transform, type TransformCallback } from 'node:stream';

export class ImportFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImportFileError';
  }
}

/**
 * Decodes a byte stream as strict UTF-8 (a leading BOM is dropped) and counts lines, so
 * an encoding error can name the line where it happened. Output is strings.
 */
export class StrictUtf8Decoder extends Transform {
  private readonly decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });
  private line = 1;

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
    for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) this.line++;
  }

  private encodingError(chunk: Buffer): ImportFileError {
    // Find the line of the first bad byte within this chunk.
    let line = this.line;
    let start = 0;
    for (let end = 1; end <= chunk.length; end++) {
      try {
        new TextDecoder('utf-8', { fatal: true }).decode(chunk.subarray(start, end), { stream: true });
      } catch {
        break;
      }
      if (chunk[end - 1] === 0x0a) {
        line++;
        start = end;
      }
    }
    const looksUtf16 = chunk.length >= 2 && ((chunk[0] === 0xff && chunk[1] === 0xfe) || (chunk[0] === 0xfe && chunk[1] === 0xff));
    return new ImportFileError(
      `line ${line}: the file is not valid UTF-8${looksUtf16 ? ' (it looks like UTF-16)' : ''}; save it as UTF-8 and import it again`,
    );
  }
}
