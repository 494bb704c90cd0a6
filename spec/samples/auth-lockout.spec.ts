import { expect } from 'chai'
import sinon from 'sinon'
import { SmtpDriver } from '../../lib/driver.js'
import { SmtpProtocol } from '../../lib/protocol.js'
import { AuthLockout } from '../../samples/auth-lockout.js'

const PLAIN_WRONG = `AUTH PLAIN ${Buffer.from('\0alice\0wrong').toString('base64')}`
const PLAIN_RIGHT = `AUTH PLAIN ${Buffer.from('\0alice\0right').toString('base64')}`

/** A session from `address` watched by `lockout`; alice's password is "right". */
async function sessionFrom(lockout: AuthLockout, address: string): Promise<{ client: SmtpDriver; greeting: string; smtp: SmtpProtocol }> {
  const smtp = new SmtpProtocol({ domain: 'mx.test', allowInsecureAuth: true })
  lockout.watch(smtp)
  smtp.on('plainAuth', ({ username, password }) => username === 'alice' && password === 'right')
  const client = new SmtpDriver(smtp)
  const greeting = await client.connect({ remoteAddress: address })
  return { client, greeting, smtp }
}

describe('samples/auth-lockout', () => {
  let clock: sinon.SinonFakeTimers

  beforeEach(() => {
    clock = sinon.useFakeTimers({ now: Date.UTC(2026, 10, 24), toFake: ['Date'] })
  })

  afterEach(() => clock.restore())

  // Issue #11: an MX behind a shared NAT must not lose mail because one client there guesses passwords.
  it('refuses AUTH (454) from an address that failed too often across sessions, until the failures age out; its mail still arrives', async () => {
    const lockout = new AuthLockout(2, 15 * 60_000)
    for (let i = 0; i < 2; i++) {
      const { client } = await sessionFrom(lockout, '192.0.2.9')
      await client.command('EHLO c.test')
      expect(await client.command(PLAIN_WRONG)).to.equal('535 5.7.8 Authentication credentials invalid')
    }
    const locked = await sessionFrom(lockout, '192.0.2.9')
    expect(locked.greeting).to.equal('220 mx.test ESMTP smtpwire')
    await locked.client.command('EHLO c.test')
    expect(await locked.client.command(PLAIN_RIGHT)).to.equal('454 4.7.0 Too many failed logins from your address, try later')
    expect(await locked.client.send('MAIL FROM:<a@b.test>', 'RCPT TO:<c@d.test>', 'DATA')).to.deep.equal([
      '250 2.1.0 Sender OK',
      '250 2.1.5 Recipient OK',
      '354 End data with <CR><LF>.<CR><LF>',
    ])
    expect(await locked.client.send('Subject: hi', '', 'hello', '.')).to.deep.equal(['250 2.0.0 Message accepted'])
    const other = await sessionFrom(lockout, '192.0.2.10')
    await other.client.command('EHLO c.test')
    expect(await other.client.command(PLAIN_RIGHT)).to.equal('235 2.7.0 Authentication succeeded')
    clock.tick(15 * 60_000)
    const later = await sessionFrom(lockout, '192.0.2.9')
    await later.client.command('EHLO c.test')
    expect(await later.client.command(PLAIN_RIGHT)).to.equal('235 2.7.0 Authentication succeeded')
  })

  it('refuses even the right password in a session that was open when the lockout began', async () => {
    const lockout = new AuthLockout(1, 60_000)
    const open = await sessionFrom(lockout, '192.0.2.9')
    await open.client.command('EHLO c.test')
    const other = await sessionFrom(lockout, '192.0.2.9')
    await other.client.command('EHLO c.test')
    await other.client.command(PLAIN_WRONG)
    expect(await open.client.command(PLAIN_RIGHT)).to.equal('454 4.7.0 Too many failed logins from your address, try later')
    expect(open.client.ended).to.equal(false)
    expect(open.smtp.session.user).to.equal(null)
  })

  // Issue #11: the map grew by one entry per distinct failing address, forever.
  it('remembers at most maxAddresses addresses, forgetting the least recently failing first', async () => {
    const lockout = new AuthLockout(1, 60_000, 3)
    for (let i = 1; i <= 1000; i++) lockout.record(`198.51.100.${i % 250}`)
    expect(lockout.size).to.equal(3)
    lockout.record('192.0.2.1')
    lockout.record('192.0.2.2')
    lockout.record('192.0.2.1') // fails again: now the most recent
    lockout.record('192.0.2.3')
    lockout.record('192.0.2.4') // forgets 192.0.2.2, the least recently failing
    expect(['192.0.2.1', '192.0.2.2', '192.0.2.3', '192.0.2.4'].map((a) => lockout.isLocked(a))).to.deep.equal([true, false, true, true])
    expect(lockout.size).to.equal(3)
  })

  it('keeps no more failure times per address than the limit needs', async () => {
    const lockout = new AuthLockout(2, 60_000)
    for (let i = 0; i < 10_000; i++) lockout.record('192.0.2.9')
    expect(lockout.isLocked('192.0.2.9')).to.equal(true)
    expect(JSON.stringify([...(lockout as unknown as { failures: Map<string, number[]> }).failures.values()].map((list) => list.length))).to.equal('[2]')
  })

  it('does nothing with a limit of 0', async () => {
    const lockout = new AuthLockout(0, 60_000)
    const { client } = await sessionFrom(lockout, '192.0.2.9')
    await client.command('EHLO c.test')
    for (let i = 0; i < 2; i++) await client.command(PLAIN_WRONG)
    expect(lockout.isLocked('192.0.2.9')).to.equal(false)
  })
})
