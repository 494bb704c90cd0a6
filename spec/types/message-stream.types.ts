// Compile-only checks of messageStream()'s types: `npm test` builds this file, and each line marked
// as an expected error must really be a type error, or the build fails. Never executed.

import type { Readable } from 'node:stream'
import { messageStream, SmtpError, SmtpProtocol, SmtpReply, type MessageStreamHandler } from '../../lib/index.js'

const smtp = new SmtpProtocol()

// The handler gets a Readable and the transaction, and answers like a `message` listener.
const detach: () => void = messageStream(smtp, async (body: Readable, { transaction, session }) => {
  const id: string = transaction.id
  const user: string | null = session.user
  void [id, user, body.readableLength]
})
detach()
messageStream(smtp, () => false)
messageStream(smtp, async () => new SmtpReply(250, 'Queued', '2.0.0'))
messageStream(smtp, async () => [true, false])
messageStream(smtp, () => {
  throw new SmtpError(554, 'No')
})
messageStream(smtp, () => true, { highWaterMark: 1024 })

// @ts-expect-error a string is not a verdict
messageStream(smtp, async () => 'yes')
// @ts-expect-error highWaterMark is a number
messageStream(smtp, () => true, { highWaterMark: '1k' })
// @ts-expect-error there is no such option
messageStream(smtp, () => true, { objectMode: true })

const typed: MessageStreamHandler = (body) => void body.resume()
void typed
