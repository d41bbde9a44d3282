import { html, type SafeHtml } from './html.js';

export interface TableOptions {
  /** `<table class>`. */
  className?: string;
  caption?: string;
  /** Header cells say `scope="col"`. */
  scope?: boolean;
  /** Each row's first cell is its header (`<th scope="row">`). */
  rowHeader?: boolean;
}

/** A table of `items`: a header row of `columns`, then a row of `cells(item)` per item. */
export function dataTable<T>(
  columns: readonly string[],
  items: readonly T[],
  cells: (item: T) => ReadonlyArray<SafeHtml | string>,
  o: TableOptions = {},
): SafeHtml {
  const cell = (value: SafeHtml | string, i: number) =>
    o.rowHeader && i === 0 ? html`<th scope="row">${value}</th>` : html`<td>${value}</td>`;
  return html`<table${o.className ? html` class="${o.className}"` : ''}>
    ${
      o.caption === undefined
        ? ''
        : html`<caption>
            ${o.caption}
          </caption>`
    }
    <thead>
      <tr>
        ${columns.map((c) => (o.scope ? html`<th scope="col">${c}</th>` : html`<th>${c}</th>`))}
      </tr>
    </thead>
    <tbody>
      ${items.map(
        (item) =>
          html`<tr>
            ${cells(item).map(cell)}
          </tr>`,
      )}
    </tbody>
  </table>`;
}
