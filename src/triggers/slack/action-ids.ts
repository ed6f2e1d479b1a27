/**
 * The approval buttons: their action ids and the value they carry (`{ incidentId, proposal key }`),
 * shared by the message blocks that draw them and the handlers that receive the clicks.
 */
export const APPROVE_ACTION = 'rr_approve';
export const REJECT_ACTION = 'rr_reject';

export interface ButtonValue {
  incidentId: string;
  key: string;
  /** The option (from 1) an Approve button chooses, when alternatives are offered. */
  option?: number;
}

export function encodeButtonValue(v: ButtonValue): string {
  return JSON.stringify({ i: v.incidentId, k: v.key, ...(v.option !== undefined ? { o: v.option } : {}) });
}

/** The value of a clicked button, or undefined when it is not one of ours. */
export function decodeButtonValue(s: string | undefined): ButtonValue | undefined {
  if (s === undefined || s.length > 500) return undefined;
  try {
    const o = JSON.parse(s) as { i?: unknown; k?: unknown; o?: unknown };
    if (typeof o.i !== 'string' || typeof o.k !== 'string' || !/^[\w.:-]{1,128}$/.test(o.i) || o.k.length > 200) return undefined;
    if (o.o !== undefined && !(typeof o.o === 'number' && Number.isInteger(o.o) && o.o >= 1 && o.o <= 20)) return undefined;
    return { incidentId: o.i, key: o.k, ...(typeof o.o === 'number' ? { option: o.o } : {}) };
  } catch {
    return undefined;
  }
}
