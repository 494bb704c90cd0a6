import { expect } from 'chai'
import sinon from 'sinon'
import { RECORDED_EVENTS, SmtpDriver } from '../lib/driver.js'
import { SmtpProtocol } from '../lib/protocol.js'
import { deferred, nextTurn } from './helpers/ladder.js'

describe('SmtpDriver', () => {
  describe('the ladder: ehlo(), mail(), rcpt(), data()', () => {
    it('climbs to a delivered message, dot-stuffing the body, and records the events in order', async () => {
      const bodies: string[] = []
      const smtp = new SmtpProtocol({ domain: 'mx.test' })
      smtp.on('message', ({ body }) => void bodies.push(String(body)))
      const client = new SmtpDriver(smtp)
      const log = client.recordEvents()
      await client.connect()
      expect(await client.ehlo('c.test')).to.match(/^250-mx\.test greets c\.test\n/)
      expect(await client.mail('a@b.test', 'BODY=8BITMIME')).to.equal('250 2.1.0 Sender OK')
      expect(await client.rcpt('c@mx.test')).to.equal('250 2.1.5 Recipient OK')
      // leading dots are doubled on the wire and undone by the server (unstuffed, they would be
      // lost); a CRLF is added at the end
      expect(await client.data('Subject: dots\r\n\r\n.one\r\n..two\r\n.')).to.deep.equal(['250 2.0.0 Message accepted'])
      expect(bodies).to.deep.equal(['Subject: dots\r\n\r\n.one\r\n..two\r\n.\r\n'])
      expect(await client.data('')).to.deep.equal(['503 5.5.1 Need MAIL command first'])
      await client.mail('a@b.test')
      await client.rcpt('c@mx.test')
      expect(await client.data(Buffer.from('caf\xe9\r\n', 'latin1'))).to.deep.equal(['250 2.0.0 Message accepted'])
      expect(bodies[1]).to.equal('caf\ufffd\r\n') // the octet went through as it was (not UTF-8)
      await client.end()
      expect(log).to.deep.equal([
        'connect',
        'ehlo',
        'transaction:helo',
        'sender',
        'recipient',
        'data',
        'message',
        'transaction:delivered',
        'sender',
        'recipient',
        'data',
        'message',
        'transaction:delivered',
        'close:peer',
      ])
    })

    it('returns the refusal of DATA alone, and per-recipient replies under LMTP (LHLO)', async () => {
      const refusing = new SmtpDriver({ domain: 'mx.test' })
      refusing.protocol.on('data', () => false)
      await refusing.connect()
      await refusing.ehlo()
      await refusing.mail('a@b.test')
      await refusing.rcpt('c@mx.test')
      expect(await refusing.data('x')).to.deep.equal(['554 5.7.1 Transaction rejected'])

      const lmtp = new SmtpDriver({ domain: 'mx.test', lmtp: true })
      lmtp.protocol.on('message', () => [true, false])
      await lmtp.connect()
      expect(await lmtp.ehlo('c.test')).to.match(/^250-mx\.test greets c\.test\n/)
      expect(lmtp.transcript).to.not.include('EHLO')
      await lmtp.mail('a@b.test')
      await lmtp.rcpt('one@mx.test')
      await lmtp.rcpt('two@mx.test')
      expect(await lmtp.data('x')).to.deep.equal(['250 2.0.0 Message accepted', '550 5.7.1 Message rejected'])
    })

    it('records by default only events whose listener changes nothing', async () => {
      const smtp = new SmtpProtocol({ domain: 'mx.test', allowInsecureAuth: true })
      const client = new SmtpDriver(smtp)
      client.recordEvents()
      await client.connect()
      // no AUTH on offer (no auth listener), VRFY answered as without listeners, the body still collected
      expect(await client.ehlo()).to.not.include('AUTH')
      expect(RECORDED_EVENTS).to.not.include.members(['dataChunk', 'headers', 'plainAuth', 'auth', 'vrfy', 'expn', 'help'])
      let body: Buffer | null = null
      smtp.on('message', (e) => void (body = e.body))
      await client.mail('a@b.test')
      await client.rcpt('c@mx.test')
      await client.data('x')
      expect(String(body)).to.equal('x\r\n')
    })
  })

  describe('settle()', () => {
    it('sleeps while a verdict is pending instead of polling', async () => {
      const verdict = deferred<boolean>()
      const smtp = new SmtpProtocol({ domain: 'mx.test' })
      smtp.on('sender', () => verdict.promise)
      const client = new SmtpDriver(smtp)
      await client.connect()
      await client.ehlo()
      const sandbox = sinon.createSandbox()
      const reads = sandbox.spy(smtp, 'isWaiting', ['get'])
      client.write('MAIL FROM:<a@b.test>\r\n')
      const replies = client.settle()
      for (let turn = 0; turn < 50; turn++) await nextTurn()
      // polling would read isWaiting once per turn
      expect(reads.get.callCount).to.be.at.most(2)
      verdict.resolve(true)
      expect(await replies).to.deep.equal(['250 2.1.0 Sender OK'])
      sandbox.restore()
    })

    it('waits for listeners that run after end()', async () => {
      const cleanup = deferred()
      const steps: string[] = []
      const smtp = new SmtpProtocol({ domain: 'mx.test' })
      smtp.on('close', async () => {
        await cleanup.promise
        steps.push('cleaned up')
      })
      const client = new SmtpDriver(smtp)
      await client.connect()
      const ended = client.end().then(() => steps.push('end() resolved'))
      for (let turn = 0; turn < 5; turn++) await nextTurn()
      expect(steps).to.deep.equal([])
      cleanup.resolve()
      await ended
      expect(steps).to.deep.equal(['cleaned up', 'end() resolved'])
    })
  })
})
