import { Body, type PipeTransform } from '@nestjs/common';
import { z } from 'zod';
import { DomainError } from '#libs/core';

/** A field the controller reads as text: a string, else undefined (as a missing field). */
export const text = z
  .unknown()
  .optional()
  .transform((v) => (typeof v === 'string' ? v : undefined));
/** A field passed on as it came: the service it goes to checks it (and answers as the flow does, never 400). */
export const given = z.unknown().optional();

/** Parses a request body with its schema; a body that is not an object reads as `{}`. */
export class BodyPipe<S extends z.ZodType> implements PipeTransform<unknown, z.output<S>> {
  constructor(private readonly schema: S) {}

  transform(value: unknown): z.output<S> {
    const body = typeof value === 'object' && value !== null && !Array.isArray(value) ? value : {};
    const parsed = this.schema.safeParse(body);
    // The API answers 400 invalid_request (problem+json) with the schema's message.
    if (!parsed.success) throw new DomainError('invalid_request', parsed.error.issues[0]?.message ?? 'The request body is not valid.');
    return parsed.data;
  }
}

/** The request body, parsed by `schema` (one schema per body: see bodies.ts). */
export const Input = (schema: z.ZodType): ParameterDecorator => Body(new BodyPipe(schema));
