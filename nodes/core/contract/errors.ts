/**
 * An error caused by what a user or an upstream node sent, as opposed to a fault of ours.
 * `path` names the offending field (e.g. `payload.clients[3].priority`) so the message in the
 * debug sidebar points at it.
 */
export class InputError extends Error {
  readonly path: string;

  constructor(path: string, message: string) {
    super(`${path}: ${message}`);
    this.name = 'InputError';
    this.path = path;
  }
}

/**
 * An InputError about a thing that is not there (a device nobody has seen): the HTTP API answers
 * it with 404 rather than 400.
 */
export class NotFoundError extends InputError {
  constructor(path: string, message: string) {
    super(path, message);
    this.name = 'NotFoundError';
  }
}
