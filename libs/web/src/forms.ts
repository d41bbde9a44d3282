import { html, type SafeHtml } from './html.js';

/** The hidden CSRF field every form of the console carries. */
export const csrfField = (csrf: string): SafeHtml => html`<input type="hidden" name="csrf" value="${csrf}" />`;

/** A form-level error, announced to assistive technology. */
export function alertBox(message: string | undefined): SafeHtml {
  return message ? html`<p class="error" role="alert" id="form-error">${message}</p>` : html``;
}

export function noticeBox(message: string | undefined): SafeHtml {
  return message ? html`<p class="notice" role="status">${message}</p>` : html``;
}

export interface FieldOptions {
  type?: 'text' | 'password' | 'email' | 'tel' | 'search' | 'date' | 'datetime-local';
  value?: string | undefined;
  autocomplete?: string;
  inputmode?: string;
  hint?: string;
  required?: boolean;
  /** Field errors by field name; this field's is shown under it and linked with aria-describedby. */
  errors?: Record<string, string> | undefined;
}

/** A labelled input (`<label for>` names it for browsers, assistive technology and tests). */
export function field(label: string, name: string, o: FieldOptions = {}): SafeHtml {
  const id = `f-${name}`;
  const error = o.errors?.[name];
  const hintId = o.hint ? `${name}-hint` : undefined;
  const described = [hintId, error ? `${name}-error` : undefined].filter(Boolean).join(' ');
  return html`<label for="${id}">${label}</label>
    <input
      id="${id}"
      name="${name}"
      type="${o.type ?? 'text'}"
      ${o.value !== undefined ? html` value="${o.value}"` : ''}${
        o.autocomplete ? html` autocomplete="${o.autocomplete}"` : ''
      }${o.inputmode ? html` inputmode="${o.inputmode}"` : ''}${o.required ? html` required` : ''}${
        described ? html` aria-describedby="${described}"` : ''
      }${error ? html` aria-invalid="true"` : ''}
    />
    ${o.hint ? html`<p class="hint" id="${hintId}">${o.hint}</p>` : ''}${error ? html`<p class="field-error" id="${name}-error">${error}</p>` : ''}`;
}

/** A labelled drop-down. */
export function selectField(
  label: string,
  name: string,
  choices: ReadonlyArray<{ value: string; label: string }>,
  o: { selected?: string | undefined; errors?: Record<string, string> | undefined } = {},
): SafeHtml {
  const id = `f-${name}`;
  const error = o.errors?.[name];
  return html`<label for="${id}">${label}</label>
    <select id="${id}" name="${name}" ${error ? html` aria-describedby="${name}-error" aria-invalid="true"` : ''}>
      ${choices.map((c) => html`<option value="${c.value}" ${c.value === o.selected ? html` selected` : ''}>${c.label}</option>`)}
    </select>
    ${error ? html`<p class="field-error" id="${name}-error">${error}</p>` : ''}`;
}
