import { expect } from 'chai'
import sinon from 'sinon'
import { SmtpDriver } from '../../lib/driver.js'
import { SmtpProtocol } from '../../lib/protocol.js'
import { AuthLockout } from '../../samples/auth-lockout.js'

const PLAIN_WRONG = `AUTH PLAIN ${Buffer.from('\0alice\0wrong').toString('base64')}`
const PLAIN_RIGHT = `AUTH PLAIN ${Buffer.from('\0alice\0right').toString('base64')}`

/** A session from `address` watched by `lockout`; alice's password is "right". */
async function sessionFrom(lockout: AuthLockout, address: string): Promise<{ client: SmtpDriver; greeting: string }> {
  const smtp = new SmtpProtocol({ domain: 'mx.test', allowInsecureAuth: true })
  lockout.watch(smtp)
  smtp.on('plainAuth', ({ username, password }) => username === 'alice' && password === 'right')
  const client = new SmtpDriver(smtp)
  const greeting = await client.connect({ remoteAddress: address })
  return { client, greeting }
}

describe('samples/auth-lockout', () => {
  let clock: sinon.SinonFakeTimers

  beforeEach(() => {
    clock = sinon.useFakeTimers({ now: Date.UTC(2026, 10, 24), toFake: ['Date'] })
  })

  afterEach(() => clock.restore())

  it('refuses an address at connect once it failed too often across sessions, until the failures age out', async () => {
    const lockout = new AuthLockout(2, 15 * 60_000)
    for (let i = 0; i < 2; i++) {
      const { client } = await sessionFrom(lockout, '192.0.2.9')
      await client.command('EHLO c.test')
      expect(await client.command(PLAIN_WRONG)).to.equal('535 5.7.8 Authentication credentials invalid')
    }
    expect((await sessionFrom(lockout, '192.0.2.9')).greeting).to.equal('421 Too many failed logins from your address, try later')
    expect((await sessionFrom(lockout, '192.0.2.10')).greeting).to.equal('220 mx.test ESMTP smtpwire')
    clock.tick(15 * 60_000)
    expect((await sessionFrom(lockout, '192.0.2.9')).greeting).to.equal('220 mx.test ESMTP smtpwire')
  })

  it('refuses even the right password in a session that was open when the lockout began', async () => {
    const lockout = new AuthLockout(1, 60_000)
    const open = await sessionFrom(lockout, '192.0.2.9')
    await open.client.command('EHLO c.test')
    const other = await sessionFrom(lockout, '192.0.2.9')
    await other.client.command('EHLO c.test')
    await other.client.command(PLAIN_WRONG)
    expect(await open.client.command(PLAIN_RIGHT)).to.equal('421 4.7.0 Too many failed logins from your address, try later')
    expect(open.client.ended).to.equal(true)
  })

  it('does nothing with a limit of 0', async () => {
    const lockout = new AuthLockout(0, 60_000)
    const { client } = await sessionFrom(lockout, '192.0.2.9')
    await client.command('EHLO c.test')
    for (let i = 0; i < 2; i++) await client.command(PLAIN_WRONG)
    expect(lockout.isLocked('192.0.2.9')).to.equal(false)
  })
})
