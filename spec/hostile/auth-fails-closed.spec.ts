// Issue #11, item 5: AUTH fails closed. Only an explicit `true` (or a 2xx SmtpReply) from every
// plainAuth/auth listener authenticates; anything else is 535, and a value that is not a boolean
// (a forgotten `return`, `null` from a lookup, a returned Error) is reported on `error`.

import { expect } from 'chai'
import { SmtpDriver } from '../../lib/driver.js'
import { SmtpReply, SmtpwireError } from '../../lib/errors.js'
import type { SmtpEvents } from '../../lib/events.js'
import { SmtpProtocol } from '../../lib/protocol.js'

const PLAIN = `AUTH PLAIN ${Buffer.from('\0alice\0guess').toString('base64')}`
const FAILED = '535 5.7.8 Authentication credentials invalid'
const SUCCEEDED = '235 2.7.0 Authentication succeeded'

/** One AUTH PLAIN attempt whose only listener (of `event`) returns `value`: the reply, the errors reported, the user. */
async function attempt(event: 'plainAuth' | 'auth', value: unknown): Promise<{ reply: string; errors: string[]; user: string | null }> {
  const smtp = new SmtpProtocol({ domain: 'mx.test', allowInsecureAuth: true })
  const errors: string[] = []
  smtp.on(event, (() => value) as never)
  smtp.on('error', ({ error, event: from }: SmtpEvents['error']) => void errors.push(`${from}: ${(error as SmtpwireError).code}: ${error.message}`))
  const client = new SmtpDriver(smtp)
  await client.connect()
  await client.command('EHLO c.test')
  const reply = await client.command(PLAIN)
  return { reply, errors, user: smtp.session.user }
}

describe('hostile: AUTH fails closed (issue #11)', () => {
  const mistakes: Array<[string, unknown, string]> = [
    ['undefined (a forgotten return)', undefined, 'undefined'],
    ['null (a lookup that found nobody)', null, 'null'],
    ['0', 0, 'a number'],
    ["''", '', 'a string'],
    ['a non-empty string', 'alice', 'a string'],
    ['an object', { user: 'alice' }, 'a object'],
    ['a returned Error', new Error('lookup failed'), 'an Error'],
    ['a 3xx reply', new SmtpReply(334, 'more?'), 'a 334 reply'],
  ]
  for (const event of ['plainAuth', 'auth'] as const) {
    for (const [name, value, described] of mistakes) {
      it(`${event}: ${name} is refused with 535 and reported on error`, async () => {
        const { reply, errors, user } = await attempt(event, value)
        expect(reply).to.equal(FAILED)
        expect(user).to.equal(null)
        expect(errors).to.deep.equal([
          `${event}: SMTPWIRE_ERR_LISTENER_RESULT: ${event} listener returned ${described}: only true (or a 2xx SmtpReply) authenticates`,
        ])
      })
    }
    it(`${event}: a Promise of undefined is refused the same way`, async () => {
      const { reply, errors } = await attempt(event, Promise.resolve(undefined))
      expect(reply).to.equal(FAILED)
      expect(errors).to.have.length(1)
    })
    it(`${event}: false is refused without an error`, async () => {
      expect(await attempt(event, false)).to.deep.equal({ reply: FAILED, errors: [], user: null })
    })
    it(`${event}: true and a 2xx SmtpReply authenticate`, async () => {
      expect(await attempt(event, true)).to.deep.equal({ reply: SUCCEEDED, errors: [], user: 'alice' })
      expect(await attempt(event, new SmtpReply(235, 'Welcome', '2.7.0'))).to.deep.equal({ reply: '235 2.7.0 Welcome', errors: [], user: 'alice' })
    })
  }

  it('the README example with a forgotten return lets nobody in', async () => {
    const smtp = new SmtpProtocol({ domain: 'mx.test', allowInsecureAuth: true })
    smtp.on('error', () => undefined)
    // eslint-disable-next-line @typescript-eslint/no-unused-expressions
    smtp.on('plainAuth', (({ password }: { password: string }) => {
      password === 'x' // the bug: no return
    }) as never)
    const client = new SmtpDriver(smtp)
    await client.connect()
    await client.command('EHLO c.test')
    expect(await client.command(`AUTH PLAIN ${Buffer.from('\0alice\0x').toString('base64')}`)).to.equal(FAILED)
  })

  it('keeps nothing (undefined) as an accept for sender and recipient, as documented', async () => {
    const smtp = new SmtpProtocol({ domain: 'mx.test' })
    smtp.on('sender', () => undefined)
    smtp.on('recipient', () => undefined)
    const client = new SmtpDriver(smtp)
    await client.connect()
    await client.command('EHLO c.test')
    expect(await client.send('MAIL FROM:<a@b.test>', 'RCPT TO:<c@d.test>')).to.deep.equal(['250 2.1.0 Sender OK', '250 2.1.5 Recipient OK'])
  })
})
