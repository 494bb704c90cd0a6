// Compile-only checks of the public types: `npm test` builds this file, and each line marked as an
// expected error below must really be a type error, or the build fails. Never executed.

import { SmtpError, SmtpProtocol, SmtpReply, type SmtpEvents } from '../../lib/index.js'

const smtp = new SmtpProtocol()

// Payloads are typed per event.
smtp.on('sender', ({ address, params, session }) => {
  const domain: string | undefined = address?.domain
  const size: number | null = params.size
  const id: string = session.id
  void [domain, size, id]
})
smtp.on('recipient', ({ address, transaction }) => {
  const local: string = address.localPart
  const count: number = transaction.to.length
  void [local, count]
})
smtp.on('dataChunk', ({ chunk }) => void chunk.length)
smtp.on('message', ({ body }) => void body?.length)
// The common case needs no null check: requireBody() is a Buffer (it throws when not collected).
smtp.on('message', ({ requireBody }) => {
  const length: number = requireBody().length
  void length
})
smtp.on('message', ({ body }) => {
  // @ts-expect-error body may be null (not collected)
  void body.length
})
smtp.on('close', ({ aborted, reason }) => {
  const cut: boolean = aborted
  const why: 'quit' | 'peer' | 'error' | 'protocol' | 'timeout' | 'shutdown' = reason
  void [cut, why]
})

// Decision listeners may return a verdict, a reply or a Promise of either.
smtp.on('ehlo', () => true)
smtp.on('ehlo', () => undefined)
smtp.on('sender', async () => false)
smtp.on('recipient', () => new SmtpReply(251, 'User not local; will forward', '2.1.5'))
smtp.on('data', () => {
  throw new SmtpError(554, 'No thanks', '5.7.1')
})
// LMTP: one verdict per recipient, for `message` only.
smtp.on('message', () => [true, false, new SmtpReply(452, 'Mailbox full', '4.2.2')])

// @ts-expect-error there is no such event
smtp.on('nope', () => true)
// @ts-expect-error the sender payload has no chunk
smtp.on('sender', ({ chunk }) => chunk)
// @ts-expect-error a decision listener cannot answer with a string
smtp.on('recipient', () => 'yes')
// @ts-expect-error per-recipient arrays are for `message` only
smtp.on('recipient', () => [true])
// @ts-expect-error enhanced codes must look like x.y.z
new SmtpError(550, 'bad', '5.1')

type HasAllEvents = keyof SmtpEvents extends
  | 'connect'
  | 'ehlo'
  | 'sender'
  | 'recipient'
  | 'data'
  | 'headers'
  | 'dataChunk'
  | 'message'
  | 'plainAuth'
  | 'auth'
  | 'vrfy'
  | 'expn'
  | 'help'
  | 'reset'
  | 'transaction'
  | 'close'
  | 'error'
  | 'authFailure'
  | 'secure'
  | 'tlsError'
  ? true
  : false
const allEvents: HasAllEvents = true
void allEvents
