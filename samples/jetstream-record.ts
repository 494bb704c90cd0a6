// The JetStream record one accepted message becomes: the header names the front end writes and
// the consumer reads, and how a body kept in the object store is named. Shared by both samples.

/** One `Smtp-Rcpt-To` header per recipient, in RCPT order, each `<address>`. */
export const RCPT_TO = 'Smtp-Rcpt-To'
/** The reverse path as `<address>` (`<>` for the null sender). */
export const MAIL_FROM = 'Smtp-Mail-From'
/** The client's address: the one the PROXY header named, not the balancer's. */
export const CLIENT_ADDRESS = 'Smtp-Client-Address'
/**
 * Set when the message was too big for one NATS message: `<bucket>/<object name>`, and the
 * record's payload is empty. The object holds exactly what the payload would have held.
 */
export const BODY_OBJECT = 'Smtp-Body-Object'

/** Splits an `Smtp-Body-Object` value into bucket and object name. @throws Error when it has no `/`. */
export function parseBodyObject(value: string): { bucket: string; name: string } {
  const slash = value.indexOf('/')
  if (slash <= 0 || slash === value.length - 1) throw new Error(`${BODY_OBJECT} must be <bucket>/<name>, got ${JSON.stringify(value)}`)
  return { bucket: value.slice(0, slash), name: value.slice(slash + 1) }
}
