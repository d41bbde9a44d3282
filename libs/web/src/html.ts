import type { Response } from 'express';

/** Server-side HTML with escaping by default. No inline script anywhere (strict CSP). */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/gu, (ch) => ESCAPES[ch]!);
}

type Part = SafeHtml | string | number | boolean | null | undefined | Part[];

function render(part: Part): string {
  if (part === null || part === undefined || part === false) return '';
  if (Array.isArray(part)) return part.map(render).join('');
  if (part instanceof SafeHtml) return part.value;
  return escapeHtml(String(part));
}

export function html(strings: TemplateStringsArray, ...parts: Part[]): SafeHtml {
  let out = strings[0] ?? '';
  parts.forEach((part, i) => {
    out += render(part) + (strings[i + 1] ?? '');
  });
  return new SafeHtml(out);
}

export const STYLESHEET = `
:root { color-scheme: light; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
body { margin: 0; background: #f4f5f7; color: #1b1f24; }
header { background: #1f3a5f; color: #fff; padding: 0.8rem 1.5rem; font-weight: 600; letter-spacing: 0.02em; }
main { max-width: 32rem; margin: 2rem auto; background: #fff; padding: 1.5rem 2rem 2rem; border-radius: 8px; box-shadow: 0 1px 3px rgba(0,0,0,.12); }
main.wide { max-width: 48rem; }
h1 { font-size: 1.4rem; margin-top: 0; }
label { display: block; font-weight: 600; margin: 1rem 0 0.3rem; }
input[type=text], input[type=password], input[type=email], input[type=tel], textarea { width: 100%; box-sizing: border-box; padding: 0.55rem; font-size: 1rem; border: 1px solid #8a94a3; border-radius: 4px; }
input[readonly] { background: #eef0f3; }
fieldset { border: 1px solid #c9ced6; border-radius: 4px; margin-top: 1rem; }
fieldset label, label.inline { display: inline; font-weight: normal; margin: 0 1rem 0 0.3rem; }
button { margin-top: 1.2rem; padding: 0.6rem 1.2rem; font-size: 1rem; border-radius: 4px; border: 1px solid #1f3a5f; background: #1f3a5f; color: #fff; cursor: pointer; }
button.secondary { background: #fff; color: #1f3a5f; }
.error { color: #a4000f; background: #fdecee; padding: 0.6rem; border-radius: 4px; }
.field-error { color: #a4000f; font-size: 0.9rem; margin: 0.2rem 0 0; }
.notice { background: #e8f1fb; padding: 0.6rem; border-radius: 4px; }
.hint { color: #555d68; font-size: 0.9rem; }
.links { margin-top: 1.2rem; display: flex; gap: 1.5rem; }
table { width: 100%; border-collapse: collapse; } td, th { text-align: left; padding: 0.4rem; border-bottom: 1px solid #e2e5ea; }
`;

export function page(title: string, body: SafeHtml, options: { wide?: boolean } = {}): string {
  return `<!doctype html>${
    html`<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · Gatehouse</title><link rel="stylesheet" href="/assets/gatehouse.css"></head>
<body><header>Gatehouse</header><main${options.wide ? new SafeHtml(' class="wide"') : ''}><h1>${title}</h1>${body}</main></body></html>`
      .value
  }`;
}

/** Sends a page (HTML, not cached). */
export function sendPage(res: Response, status: number, body: string): void {
  res.setHeader('Cache-Control', 'no-store');
  res.status(status).type('html').send(body);
}

export const raw = (value: string) => new SafeHtml(value);
