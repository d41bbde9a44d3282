import { KeptCopies } from './kept-copies.js';

describe('KeptCopies', () => {
  function counted(values: Array<string | undefined>) {
    let reads = 0;
    return {
      load: () => Promise.resolve(values[reads++]),
      get reads() {
        return reads;
      },
    };
  }

  it('answers from the copy while it holds and reads again once it has run out', async () => {
    const copies = new KeptCopies<string | undefined>(1000, 10);
    const source = counted(['a', 'b']);
    expect(await copies.get('k', 0, source.load)).toBe('a');
    expect(await copies.get('k', 999, source.load)).toBe('a');
    expect(source.reads).toBe(1);
    expect(await copies.get('k', 1000, source.load)).toBe('b');
    expect(source.reads).toBe(2);
  });

  it('never keeps a value `keep` refuses, nor any value when it keeps for 0 ms', async () => {
    const refusing = new KeptCopies<string | undefined>(1000, 10);
    const unknown = counted([undefined, 'c']);
    const known = (v: string | undefined) => v !== undefined;
    expect(await refusing.get('k', 0, unknown.load, known)).toBeUndefined();
    expect(await refusing.get('k', 1, unknown.load, known)).toBe('c');
    expect(unknown.reads).toBe(2);

    const none = new KeptCopies<string | undefined>(0, 10);
    const source = counted(['a', 'b']);
    await none.get('k', 0, source.load);
    expect(await none.get('k', 0, source.load)).toBe('b');
  });

  it('drops every copy once it holds its most, and keeps the keys apart', async () => {
    const copies = new KeptCopies<string | undefined>(1000, 2);
    const source = counted(['a', 'b', 'c', 'a2']);
    expect(await copies.get('a', 0, source.load)).toBe('a');
    expect(await copies.get('b', 0, source.load)).toBe('b');
    expect(await copies.get('c', 0, source.load)).toBe('c'); // the third: the first two are dropped
    expect(await copies.get('a', 0, source.load)).toBe('a2');
    expect(source.reads).toBe(4);
  });
});
