import { expect } from 'chai'
import sinon from 'sinon'
import type { Verdict } from '../../lib/events.js'
import { deferred, recordEvents, startAt } from '../helpers/ladder.js'
import { crlf } from '../helpers/transcript.js'

const MINUTE = 60_000
const TIMEOUT = '421 4.4.2 Timeout, closing connection'

describe('SmtpProtocol', () => {
  describe('timeouts (RFC 5321 §4.5.3.2)', () => {
    let clock: sinon.SinonFakeTimers

    beforeEach(() => {
      // Only the protocol's clocks are faked; the driver still yields with setImmediate.
      clock = sinon.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
    })

    afterEach(() => clock.restore())

    it('answers 421 4.4.2 and closes when no command comes for commandTimeout', async () => {
      const { smtp, client } = await startAt('ehlo')
      const log = recordEvents(smtp)
      clock.tick(5 * MINUTE - 1)
      expect(client.ended).to.equal(false)
      clock.tick(1)
      expect(await client.settle()).to.deep.equal([TIMEOUT])
      expect(client.ended).to.equal(true)
      expect(log).to.deep.equal(['close:timeout'])
    })

    it('restarts the command clock on each complete command, not on partial input (slowloris)', async () => {
      const { client } = await startAt('ehlo')
      clock.tick(4 * MINUTE)
      await client.command('NOOP')
      // 4.5 minutes after that NOOP: one byte of a command every 30 seconds, never the end of the line
      for (let i = 0; i < 9; i++) {
        client.write('N')
        clock.tick(30_000)
      }
      expect(client.ended).to.equal(false)
      clock.tick(30_000)
      expect(await client.settle()).to.deep.equal([TIMEOUT])
    })

    it('gives message data its own clock, restarted by every read', async () => {
      const { smtp, client } = await startAt('rcpt')
      const log = recordEvents(smtp)
      await client.send('DATA')
      for (let i = 0; i < 5; i++) {
        clock.tick(2 * MINUTE)
        client.write('more text\r\n')
      }
      expect(client.ended).to.equal(false)
      clock.tick(3 * MINUTE)
      expect(await client.settle()).to.deep.equal([TIMEOUT])
      expect(log).to.deep.equal(['data', 'transaction:closed', 'close:timeout:aborted'])
    })

    it('switches clocks exactly between commands and data, however often (each is reused, not remade)', async () => {
      const { smtp, client } = await startAt('ehlo', { commandTimeout: 5 * MINUTE, dataTimeout: 3 * MINUTE, sessionTimeout: 0 })
      const log = recordEvents(smtp)
      for (let i = 0; i < 3; i++) {
        await client.command('MAIL FROM:<a@b.test>')
        await client.command('RCPT TO:<c@d.test>')
        await client.command('DATA')
        // The data clock counts from the last read of data, not from DATA.
        clock.tick(2 * MINUTE)
        client.write('Subject: x\r\n')
        clock.tick(3 * MINUTE - 1)
        expect(client.ended).to.equal(false)
        expect(await client.command('.')).to.equal('250 2.0.0 Message accepted')
        // The command clock starts again at the reply: the data timer still set must not fire for it.
        clock.tick(5 * MINUTE - 1)
        expect(client.ended).to.equal(false)
      }
      clock.tick(1)
      expect(await client.settle()).to.deep.equal([TIMEOUT])
      expect(log.filter((event) => event.startsWith('close'))).to.deep.equal(['close:timeout'])
    })

    it('times out message data after dataTimeout, though the command limit is longer', async () => {
      const { client } = await startAt('rcpt', { commandTimeout: 10 * MINUTE, dataTimeout: MINUTE, sessionTimeout: 0 })
      await client.send('DATA')
      clock.tick(MINUTE - 1)
      expect(client.ended).to.equal(false)
      clock.tick(1)
      expect(await client.settle()).to.deep.equal([TIMEOUT])
    })

    it('ends even a busy session at sessionTimeout', async () => {
      const { client } = await startAt('ehlo', { sessionTimeout: 10 * MINUTE })
      for (let i = 0; i < 9; i++) {
        clock.tick(MINUTE)
        await client.command('NOOP')
      }
      clock.tick(MINUTE)
      expect(await client.settle()).to.deep.equal([TIMEOUT])
    })

    it('does not count time a listener takes against the client', async () => {
      const verdict = deferred<Verdict>()
      const { client } = await startAt('ehlo', { sessionTimeout: 0, listenerTimeout: 0 }, (smtp) => smtp.on('sender', () => verdict.promise))
      client.write(crlf('MAIL FROM:<a@b.test>'))
      clock.tick(60 * MINUTE - 1)
      verdict.resolve(true)
      expect(await client.settle()).to.deep.equal(['250 2.1.0 Sender OK'])
      clock.tick(5 * MINUTE - 1)
      expect(client.ended).to.equal(false)
      clock.tick(1)
      expect(await client.settle()).to.deep.equal([TIMEOUT])
    })

    it('has no clocks when the limits are 0', async () => {
      const { client } = await startAt('ehlo', { commandTimeout: 0, dataTimeout: 0, sessionTimeout: 0 })
      clock.tick(24 * 60 * MINUTE)
      expect(client.ended).to.equal(false)
      expect(await client.command('NOOP')).to.equal('250 2.0.0 OK')
    })
  })
})
