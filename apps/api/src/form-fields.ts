import { ClientError } from "./http-errors";

/**
 * An application/x-www-form-urlencoded body as one string per name. Twilio sends each parameter once; a name given
 * twice has no single value to check a signature or a status against, so it is refused rather than guessed.
 */
export function parseFormFields(body: string): Record<string, string> {
  const fields: Record<string, string> = Object.create(null);
  for (const [name, value] of new URLSearchParams(body)) {
    if (Object.hasOwn(fields, name)) throw new ClientError(400, `form field ${quoted(name)} is given more than once`);
    fields[name] = value;
  }
  return fields;
}

/** A client's value in an error message: quoted, and cut short so that a message never echoes a whole body. */
export function quoted(value: string): string {
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
}

/** Text from a request that goes into the database: Postgres text cannot hold NUL, and nothing needs more than `max`. */
export function storable(value: string, max = 1000): string {
  const clean = value.replaceAll("\u0000", "");
  return clean.length > max ? `${clean.slice(0, max)}...` : clean;
}
