import { HttpException } from '@nestjs/common';
import type { Request } from 'express';
import { DomainError } from '#libs/core';
import { isSameOrigin } from './app-web.js';
import { html } from './html.js';
import { problemOf, type ProblemMapping } from './problem.js';
import { dataTable } from './table.js';

const request = (headers: Record<string, string>, log?: unknown): Request =>
  ({ get: (name: string) => headers[name.toLowerCase()], log }) as unknown as Request;

describe('isSameOrigin', () => {
  it('takes a post without Origin, and one from this host and port', () => {
    expect(isSameOrigin(request({ host: 'console.test:8081' }))).toBe(true);
    expect(isSameOrigin(request({ host: 'console.test:8081', origin: 'https://console.test:8081' }))).toBe(true);
  });

  it('refuses another host or port, an empty or null Origin, and one that is no URL', () => {
    for (const origin of ['https://console.test:8080', 'https://evil.test:8081', '', 'null', 'not a url']) {
      expect(isSameOrigin(request({ host: 'console.test:8081', origin }))).toBe(false);
    }
  });

  it('takes the origin it is told to allow as well, and only that', () => {
    const req = (origin: string) => request({ host: 'idp.internal:3000', origin });
    expect(isSameOrigin(req('https://id.example.test'), 'https://id.example.test/')).toBe(true);
    expect(isSameOrigin(req('https://id.example.test'))).toBe(false);
    expect(isSameOrigin(req('http://id.example.test'), 'https://id.example.test/')).toBe(false);
  });
});

describe('problemOf', () => {
  const mapping: ProblemMapping = { statuses: { not_found: 404 }, httpDetails: { 400: 'Not valid.' }, otherHttp: 'http_error' };

  it('gives a DomainError its status (400 when unlisted), code and message', () => {
    expect(problemOf(new DomainError('not_found', 'No such thing.'), request({}), mapping)).toEqual({
      status: 404,
      code: 'not_found',
      detail: 'No such thing.',
    });
    expect(problemOf(new DomainError('odd', 'Odd.'), request({}), mapping)).toMatchObject({ status: 400, code: 'odd' });
  });

  it("names Nest's HttpExceptions, with the app's details", () => {
    const of = (status: number) => problemOf(new HttpException('Nest says', status), request({}), mapping);
    expect(of(400)).toEqual({ status: 400, code: 'invalid_request', detail: 'Not valid.' });
    expect(of(404)).toEqual({ status: 404, code: 'not_found', detail: 'Nest says' });
    expect(of(413)).toEqual({ status: 413, code: 'payload_too_large', detail: 'The request body is too large.' });
    expect(of(405)).toEqual({ status: 405, code: 'http_error', detail: 'Nest says' });
  });

  it('is null while the database cannot be reached, and a logged 500 for anything else', () => {
    expect(problemOf(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), request({}), mapping)).toBeNull();
    const logged: unknown[] = [];
    const req = request({}, { error: (o: unknown) => logged.push(o) });
    const boom = new Error('boom');
    expect(problemOf(boom, req, mapping)).toEqual({
      status: 500,
      code: 'internal_error',
      detail: 'Something went wrong. Please try again.',
    });
    expect(logged).toEqual([{ err: boom }]);
  });
});

describe('dataTable', () => {
  it('writes a header row and a row of escaped cells per item', () => {
    const table = dataTable(['Name', 'Note'], [{ name: 'Ada <3', note: html`<em>ok</em>` }], (r) => [r.name, r.note]).value;
    expect(table.replace(/\s*([<>])\s*/gu, '$1')).toBe(
      '<table><thead><tr><th>Name</th><th>Note</th></tr></thead><tbody><tr><td>Ada &lt;3</td><td><em>ok</em></td></tr></tbody></table>',
    );
  });

  it('takes a class, a caption, column scopes and row headers', () => {
    const table = dataTable(['Field', 'After'], [['Email', 'a@b.test']], (r) => r, {
      className: 'diff',
      caption: 'Changed',
      scope: true,
      rowHeader: true,
    }).value;
    expect(table.replace(/\s*([<>])\s*/gu, '$1')).toBe(
      '<table class="diff"><caption>Changed</caption><thead><tr><th scope="col">Field</th><th scope="col">After</th></tr></thead>' +
        '<tbody><tr><th scope="row">Email</th><td>a@b.test</td></tr></tbody></table>',
    );
  });
});
