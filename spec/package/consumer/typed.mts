// TypeScript as a strict ESM consumer compiles it: nodenext, exactOptionalPropertyTypes, no skipLibCheck.
import { ProcessingGate, SmtpDriver, SmtpError, SmtpProtocol, SmtpReply, SmtpServer, type Reply, type SmtpOptions } from 'smtpwire'

const options: SmtpOptions = { domain: 'mx.test', maxRecipients: 1 }
const smtp = new SmtpProtocol(options)
smtp.on('recipient', ({ address }): boolean => {
  if (address.domain !== 'example.org') throw new SmtpError(550, 'Relay access denied', '5.7.1')
  return true
})
smtp.on('message', async ({ transaction }) => new SmtpReply(250, `Queued ${transaction.size} octets`, '2.0.0'))

// Both classes stand for any reply, with or without an enhanced code.
const replies: Reply[] = [new SmtpReply(250, 'OK'), new SmtpError(451, 'Later', '4.3.0')]
// @ts-expect-error: a reply code is a number, so the types are real, not any
const code: ConstructorParameters<typeof SmtpReply>[0] = '250'

const client = new SmtpDriver(smtp)
console.log(await client.connect())
await client.command('EHLO client.test')
const answers = await client.send('MAIL FROM:<a@b.test>', 'RCPT TO:<x@example.org>', 'DATA', 'Subject: hi', '', 'Hello', '.')
for (const answer of answers) console.log(answer)
console.log(replies.map((reply) => reply.code).join(' '), typeof code)

// Compiled, never run: the 0.2.0 surface (typed server events, requireBody, the driver's ladder, the gate).
export function surface(): void {
  const server = new SmtpServer({ domain: 'mx.test', maxProcessing: 2 }, (session) => {
    session.on('message', ({ requireBody }) => void requireBody().length)
  })
  server.on('connectionError', (error, facts) => void [error.message, facts.remoteAddress])
  const driver = new SmtpDriver({ gate: new ProcessingGate(1) }, { handshake: async () => ({ protocol: 'TLSv1.3', cipher: null, servername: null, implicit: false }) })
  const log: string[] = driver.recordEvents()
  void [log, driver.ehlo(), driver.mail('a@b.test', 'SIZE=10'), driver.rcpt('c@d.test'), driver.data('x')]
}
