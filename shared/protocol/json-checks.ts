/**
 * The checks every decoder of a JSON message from the other side runs: parse, then check each
 * field's type and bounds, throwing ProtocolError with a message that names the field.
 */

import { ProtocolError } from '../errors';
import type { RawHeaders } from './messages';

export function parseJson(json: string): unknown {
  try {
    return JSON.parse(json);
  } catch {
    throw new ProtocolError('the metadata frame is not valid JSON');
  }
}

export function expectObject(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ProtocolError(`${what} must be a JSON object`);
  }
  return value as Record<string, unknown>;
}

export function expectString(value: unknown, field: string): string {
  if (typeof value !== 'string') throw new ProtocolError(`${field} must be a string`);
  return value;
}

export function expectInteger(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ProtocolError(`${field} must be an integer from ${min} to ${max}`);
  }
  return value;
}

export function expectList(value: unknown, field: string, maxLength: number): unknown[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > maxLength) {
    throw new ProtocolError(`${field} must be a list of 1 to ${maxLength} items`);
  }
  return value;
}

export function expectRawHeaders(value: unknown): RawHeaders {
  if (!Array.isArray(value) || value.length % 2 !== 0 || !value.every((item) => typeof item === 'string')) {
    throw new ProtocolError('headers must be a flat array of [name, value, ...] strings');
  }
  return value;
}
