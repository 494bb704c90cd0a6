import { readPath, type Mailbox } from '../../lib/address.js'

/** The Mailbox that MAIL FROM or RCPT TO with `<address>` gives; throws when it is not one. */
export function mailbox(address: string): Mailbox {
  const path = readPath(`<${address}>`, 0, false, false, { end: 0 })
  if (path === null || typeof path === 'string') throw new Error(`not a mailbox: ${address}`)
  return path
}
