import { expect } from 'chai'
import { SmtpDriver } from '../../lib/driver.js'
import type { Verdict } from '../../lib/events.js'
import { ProcessingGate } from '../../lib/gate.js'
import type { Logger } from '../../lib/logger.js'
import { SmtpProtocol } from '../../lib/protocol.js'
import { deferred, nextTurn, startAt } from '../helpers/ladder.js'

/** A logger that keeps every line as `level message`. */
function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = []
  return {
    lines,
    debug: (m) => void lines.push(`debug ${m}`),
    info: (m) => void lines.push(`info ${m}`),
    warn: (m) => void lines.push(`warn ${m}`),
    error: (m) => void lines.push(`error ${m}`),
  }
}

describe('SmtpProtocol', () => {
  describe('maxProcessing (a gate shared by sessions)', () => {
    it('lets only as many decisions run at once as the gate allows; the rest wait their turn in order', async () => {
      const gate = new ProcessingGate(1)
      const pending: Array<ReturnType<typeof deferred<Verdict>>> = []
      const started: string[] = []
      const clients: SmtpDriver[] = []
      for (const name of ['first', 'second', 'third']) {
        const smtp = new SmtpProtocol({ domain: 'mx.test', gate })
        smtp.on('sender', () => {
          started.push(name)
          const d = deferred<Verdict>()
          pending.push(d)
          return d.promise
        })
        const client = new SmtpDriver(smtp)
        await client.connect()
        await client.command('EHLO c.test')
        clients.push(client)
      }
      for (const client of clients) client.write('MAIL FROM:<a@b.test>\r\n')
      await nextTurn()
      expect(started).to.deep.equal(['first'])
      expect([gate.active, gate.waiting]).to.deep.equal([1, 2])
      pending[0]?.resolve(true)
      await nextTurn()
      expect(started).to.deep.equal(['first', 'second'])
      pending[1]?.resolve(true)
      await nextTurn()
      pending[2]?.resolve(true)
      for (const client of clients) expect(await client.settle()).to.deep.equal(['250 2.1.0 Sender OK'])
      expect([gate.active, gate.waiting]).to.deep.equal([0, 0])
    })

    it('takes no slot for an event nobody listens to', async () => {
      const gate = new ProcessingGate(1)
      const hold = gate.tryAcquire()
      const { client } = await startAt('ehlo', { gate })
      expect(await client.command('MAIL FROM:<a@b.test>')).to.equal('250 2.1.0 Sender OK')
      hold?.()
    })
  })

  describe('XCLIENT and XFORWARD (trusted proxies)', () => {
    const PROXY = { remoteAddress: '10.1.2.3', remotePort: 40000 }

    async function fromProxy(trustedProxies: string[], address = PROXY.remoteAddress): Promise<{ smtp: SmtpProtocol; client: SmtpDriver }> {
      const smtp = new SmtpProtocol({ domain: 'mx.test', trustedProxies, addReceivedHeader: true })
      const client = new SmtpDriver(smtp)
      await client.connect({ remoteAddress: address, remotePort: 40000 })
      return { smtp, client }
    }

    it('advertises both only to a trusted proxy', async () => {
      const trusted = await fromProxy(['10.0.0.0/8'])
      const ehlo = await trusted.client.command('EHLO proxy.test')
      expect(ehlo).to.include('250-XCLIENT NAME ADDR PORT PROTO HELO LOGIN DESTADDR DESTPORT\n')
      expect(ehlo).to.include('250 XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE')
      const stranger = await fromProxy(['10.0.0.0/8'], '192.0.2.1')
      expect(await stranger.client.command('EHLO c.test')).to.not.include('XCLIENT')
      expect(await stranger.client.command('XCLIENT ADDR=192.0.2.9')).to.equal('550 5.7.0 Insufficient authorization')
    })

    it('XFORWARD from a client that is not a trusted proxy: 550, and the Received header keeps the real client', async () => {
      for (const trusted of [['10.0.0.0/8'], []]) {
        const { smtp, client } = await fromProxy(trusted, '192.0.2.1')
        const forwarded: unknown[] = []
        let body = ''
        smtp.on('message', (e) => {
          forwarded.push(e.transaction.forwarded)
          body = String(e.body)
        })
        await client.command('EHLO stranger.test')
        expect(await client.send('XFORWARD NAME=forged.test ADDR=198.51.100.9', 'XFORWARD HELO=forged-helo.test')).to.deep.equal([
          '550 5.7.0 Insufficient authorization',
          '550 5.7.0 Insufficient authorization',
        ])
        expect(smtp.session.forwarded).to.equal(null)
        await client.send('MAIL FROM:<a@b.test>', 'RCPT TO:<c@d.test>', 'DATA', 'x', '.')
        expect(forwarded).to.deep.equal([null])
        expect(body).to.match(/^Received: from stranger\.test \(unknown \[192\.0\.2\.1\]\)/)
      }
    })

    it('XCLIENT: takes the real client’s facts and greets again; the proxy must EHLO again', async () => {
      const { smtp, client } = await fromProxy(['10.1.2.3'])
      await client.command('EHLO proxy.test')
      const seen: string[] = []
      smtp.on('connect', ({ session }) => void seen.push(`${session.remoteAddress}:${session.remotePort} ${session.clientHostname} ${session.user}`))
      expect(await client.command('XCLIENT NAME=mail.client.test ADDR=IPV6:2001:db8::7 PORT=51234 HELO=client.test LOGIN=alice')).to.equal('220 mx.test ESMTP smtpwire')
      expect(seen).to.deep.equal(['2001:db8::7:51234 mail.client.test alice'])
      expect(smtp.session.heloName).to.equal('client.test')
      expect(await client.command('MAIL FROM:<a@b.test>')).to.equal('503 Send HELO/EHLO first')
      let body = ''
      smtp.on('message', (e) => void (body = String(e.body)))
      await client.send('EHLO client.test', 'MAIL FROM:<a@b.test>', 'RCPT TO:<c@d.test>', 'DATA', 'x', '.')
      expect(body).to.match(/^Received: from client\.test \(mail\.client\.test \[IPv6:2001:db8::7\]\)/)
    })

    it('XCLIENT: [UNAVAILABLE] clears an attribute; bad values and unknown attributes get 501', async () => {
      const { smtp, client } = await fromProxy(['10.1.2.3'])
      await client.command('EHLO proxy.test')
      expect(await client.send('XCLIENT ADDR=300.1.1.1', 'XCLIENT PORT=70000', 'XCLIENT COLOUR=blue', 'XCLIENT NAME')).to.deep.equal(
        Array(4).fill('501 5.5.4 Syntax error in parameters or arguments'),
      )
      expect(await client.command('XCLIENT NAME=[UNAVAILABLE] ADDR=192.0.2.50')).to.equal('220 mx.test ESMTP smtpwire')
      expect(smtp.session.clientHostname).to.equal(null)
      expect(smtp.session.remoteAddress).to.equal('192.0.2.50')
    })

    it('XFORWARD: records the original client for the next transaction only', async () => {
      const { smtp, client } = await fromProxy(['10.1.2.3'])
      const forwarded: unknown[] = []
      let body = ''
      smtp.on('message', (e) => {
        forwarded.push(e.transaction.forwarded)
        body = String(e.body)
      })
      await client.command('EHLO proxy.test')
      expect(await client.send('XFORWARD NAME=orig.test ADDR=192.0.2.77', 'XFORWARD HELO=orig-helo.test PROTO=ESMTP')).to.deep.equal(['250 2.0.0 OK', '250 2.0.0 OK'])
      await client.send('MAIL FROM:<a@b.test>', 'RCPT TO:<c@d.test>', 'DATA', 'x', '.')
      await client.send('MAIL FROM:<a@b.test>', 'RCPT TO:<c@d.test>', 'DATA', 'y', '.')
      expect(forwarded).to.deep.equal([{ NAME: 'orig.test', ADDR: '192.0.2.77', HELO: 'orig-helo.test', PROTO: 'ESMTP' }, null])
      expect(body).to.match(/^Received: from proxy\.test \(unknown \[10\.1\.2\.3\]\)/)
      expect(await client.send('MAIL FROM:<a@b.test>', 'XFORWARD NAME=late.test')).to.deep.equal(['250 2.1.0 Sender OK', '503 5.5.1 Not allowed during a mail transaction'])
    })
  })

  describe('async work and cleanup', () => {
    it('aborts transaction.signal when the transaction ends without delivery, not when it is delivered', async () => {
      const ended: Array<[string, boolean]> = []
      const { client } = await startAt('ehlo', {}, (smtp) =>
        smtp.on('transaction', ({ reason, transaction }) => {
          if (transaction) ended.push([reason, transaction.signal.aborted])
        }),
      )
      await client.send('MAIL FROM:<a@b.test>', 'RCPT TO:<c@d.test>', 'DATA', 'x', '.')
      await client.send('MAIL FROM:<a@b.test>', 'RSET')
      await client.send('MAIL FROM:<a@b.test>', 'RCPT TO:<c@d.test>', 'DATA', 'bare\nLF', '.')
      expect(ended).to.deep.equal([
        ['delivered', false],
        ['reset', true],
        ['rejected', true],
      ])
    })

    it('lets work that resumes after the session ended see that its transaction was cut off', async () => {
      const opened = deferred<void>()
      const seen: Array<[boolean, unknown]> = []
      const { smtp, client } = await startAt('rcpt', {}, (s) =>
        s.on('data', async ({ transaction }) => {
          await opened.promise // a file being created, say
          seen.push([transaction.signal.aborted, (transaction.signal.reason as Error | undefined)?.message])
        }),
      )
      client.write('DATA\r\n')
      await nextTurn()
      smtp.destroy() // the connection drops while the data listener is still working
      expect(smtp.closed).to.equal(true)
      opened.resolve()
      await smtp.settled()
      expect(seen).to.deep.equal([[true, 'transaction ended: closed']])
    })

    it('settled() waits for cleanup started by notice listeners', async () => {
      const cleaned = deferred<void>()
      let done = false
      const { smtp, client } = await startAt('rcpt', {}, (s) =>
        s.on('transaction', async ({ reason }) => {
          if (reason !== 'closed') return
          await cleaned.promise
          done = true
        }),
      )
      await client.send('DATA', 'partial')
      // the driver's end() waits for that cleanup too, so it is not awaited before it can finish
      const ended = client.end().then(() => done)
      const settled = smtp.settled().then(() => done)
      await nextTurn()
      expect(done).to.equal(false)
      cleaned.resolve()
      expect(await settled).to.equal(true)
      expect(await ended).to.equal(true)
    })
  })

  describe('logging', () => {
    it('logs the session’s life with its id on every line', async () => {
      const logger = memoryLogger()
      const { smtp, client } = await startAt('ehlo', { logger })
      await client.send('MAIL FROM:<a@b.test>', 'RCPT TO:<c@d.test>', 'DATA', 'x', '.', 'QUIT')
      const id = smtp.session.id
      expect(logger.lines.every((line) => line.includes(`[${id}] `))).to.equal(true)
      expect(logger.lines[0]).to.equal(`info [${id}] connection from 192.0.2.1:40000`)
      expect(logger.lines.some((line) => /^info \[\w+\] message \w+\.\w+ accepted: 3 octets from <a@b\.test> to 1 recipient\(s\)$/.test(line))).to.equal(true)
      expect(logger.lines.at(-1)).to.match(/^info \[\w+\] closed 192\.0\.2\.1 \(quit\): 5 commands, 1 messages, \d+ octets in, \d+ out$/)
    })

    it('uses a pino-style child logger when there is one', async () => {
      const bindings: unknown[] = []
      const lines: string[] = []
      const base: Logger = {
        debug: () => undefined,
        info: () => undefined,
        warn: () => undefined,
        error: () => undefined,
        child(b) {
          bindings.push(b)
          return { ...base, info: (m: string) => void lines.push(m) }
        },
      }
      const { smtp } = await startAt('connected', { logger: base })
      expect(bindings).to.deep.equal([{ session: smtp.session.id }])
      expect(lines[0]).to.equal('connection from 192.0.2.1:40000')
    })

    it('traces every line with trace on, with AUTH secrets replaced by ***', async () => {
      const logger = memoryLogger()
      const smtp = new SmtpProtocol({ domain: 'mx.test', logger, trace: true, allowInsecureAuth: true })
      smtp.on('plainAuth', () => true)
      const client = new SmtpDriver(smtp)
      await client.connect()
      await client.send('EHLO c.test', `AUTH PLAIN ${Buffer.from('\0alice\0secret').toString('base64')}`, 'AUTH LOGIN')
      const trace = logger.lines.filter((line) => line.startsWith('debug')).map((line) => line.replace(/^debug \[\w+\] /, ''))
      expect(trace).to.include('C: EHLO c.test')
      expect(trace).to.include('C: AUTH PLAIN ***')
      expect(trace).to.include('S: 235 2.7.0 Authentication succeeded')
      expect(trace.join('\n')).to.not.include(Buffer.from('\0alice\0secret').toString('base64'))
    })

    it('logs listener failures as errors', async () => {
      const logger = memoryLogger()
      const { client } = await startAt('ehlo', { logger }, (smtp) => {
        smtp.on('error', () => undefined)
        smtp.on('sender', () => {
          throw new Error('db down')
        })
      })
      await client.command('MAIL FROM:<a@b.test>')
      expect(logger.lines.some((line) => /^error \[\w+\] sender listener failed: db down$/.test(line))).to.equal(true)
    })
  })
})
