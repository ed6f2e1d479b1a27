/**
 * Reading request bodies with a hard size limit, and JSON decoding.
 *
 * A body larger than the limit is never buffered: a too-large `Content-Length` is refused before
 * reading anything, and a chunked body stops being collected as soon as it crosses the limit.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError } from './http-error.js';

/** How long a refused upload may keep sending (discarded) before its connection is cut. */
const LINGER_MS = 1000;

function tooLarge(maxBytes: number): HttpError {
  return new HttpError(413, 'payload_too_large', `request body exceeds ${maxBytes} bytes`, { Connection: 'close' });
}

/** Read the whole body, or reject with 413 once more than `maxBytes` arrive. */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBytes) return Promise.reject(tooLarge(maxBytes));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > maxBytes) {
        cleanup();
        chunks.length = 0;
        req.pause();
        reject(tooLarge(maxBytes));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (): void => {
      cleanup();
      reject(new HttpError(400, 'body_unreadable', 'the request body could not be read'));
    };
    const onClose = (): void => {
      if (req.complete) return;
      cleanup();
      reject(new HttpError(400, 'body_incomplete', 'the client closed the connection before the body was complete'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

/** Is the request's `Content-Type` JSON (`application/json` or `application/*+json`)? */
export function isJsonContentType(header: string | undefined): boolean {
  const type = header?.split(';', 1)[0]?.trim().toLowerCase() ?? '';
  return type === 'application/json' || /^application\/[\w.-]+\+json$/.test(type);
}

/** Check the content type, read the body within `maxBytes` and parse it as JSON (400 naming the problem). */
export async function readJson(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  if (!isJsonContentType(req.headers['content-type'])) {
    throw new HttpError(415, 'unsupported_media_type', 'Content-Type must be application/json');
  }
  const buf = await readBody(req, maxBytes);
  const text = buf.toString('utf8').trim();
  if (text === '') throw new HttpError(400, 'json_invalid', 'invalid JSON: the body is empty');
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new HttpError(400, 'json_invalid', `invalid JSON: ${why}`);
  }
}

/**
 * After answering a request whose body was not read to the end (413), discard what the client
 * still sends for a short while so it can read the answer, then cut the connection.
 */
export function lingerAndClose(req: IncomingMessage, res: ServerResponse): void {
  if (!res.headersSent) res.setHeader('Connection', 'close');
  res.once('finish', () => {
    req.resume();
    const timer = setTimeout(() => req.socket.destroy(), LINGER_MS);
    timer.unref();
    req.socket.once('close', () => clearTimeout(timer));
  });
}
