// Issue #11, item 4: a listener whose Promise never settles must not wedge the server. A client
// that leaves while a decision is pending is noticed, its session's processing slot is given back,
// `close()` is bounded by closeTimeout, and `listenerTimeout` answers the command and goes on.

import { expect } from 'chai'
import sinon from 'sinon'
import { SmtpDriver } from '../../lib/driver.js'
import { SmtpwireError } from '../../lib/errors.js'
import { SmtpProtocol } from '../../lib/protocol.js'
import type { CloseReason } from '../../lib/events.js'
import { SmtpServer } from '../../lib/server.js'
import { deferred, nextTurn, startAt } from '../helpers/ladder.js'
import { SocketClient } from '../helpers/socket-client.js'

const never = <T>(): Promise<T> => new Promise<T>(() => undefined)
const TIMED_OUT = '451 4.3.0 Local error in processing, try again later'

describe('hostile: a listener that never settles (issue #11)', () => {
  describe('over real sockets', () => {
    let server: SmtpServer | null = null

    afterEach(async () => {
      await server?.close()
      server = null
    })

    it('ends the session of a client that leaves mid-decision and gives its processing slot to the next (maxProcessing 1)', async () => {
      const closed = deferred<CloseReason>()
      let sessions = 0
      server = new SmtpServer({ domain: 'mx.test', maxProcessing: 1, listenerTimeout: 0, closeTimeout: 100 }, (smtp) => {
        const first = ++sessions === 1
        // The first session's EHLO listener never answers; later ones answer at once.
        smtp.on('ehlo', () => (first ? never<boolean>() : true))
        if (first) smtp.on('close', ({ reason }) => closed.resolve(reason))
      })
      const { port } = await server.listen(0, '127.0.0.1')
      const leaving = await SocketClient.connect(port)
      await leaving.read()
      leaving.write('EHLO first.test')
      await new Promise<void>((resolve) => setImmediate(resolve))
      leaving.socket.end() // its FIN reaches a session that waits for a listener
      expect(await closed.promise).to.equal('peer')
      const next = await SocketClient.connect(port)
      await next.read()
      expect((await next.command('EHLO second.test')).split('\n')[0]).to.equal('250-mx.test greets second.test')
      next.socket.destroy()
    })

    it('resolves close() within closeTimeout although a listener never settles', async () => {
      const waiting = deferred<void>()
      server = new SmtpServer({ domain: 'mx.test', listenerTimeout: 0, closeTimeout: 50 }, (smtp) => {
        smtp.on('message', () => {
          waiting.resolve()
          return never<boolean>()
        })
        // Cleanup that never finishes either: close() must not wait for it past closeTimeout.
        smtp.on('transaction', () => never<void>())
      })
      const { port } = await server.listen(0, '127.0.0.1')
      const client = await SocketClient.connect(port)
      await client.read()
      client.write('EHLO c.test', 'MAIL FROM:<a@b.test>', 'RCPT TO:<c@d.test>', 'DATA')
      await client.read(4)
      client.write('Subject: x', '', 'body', '.')
      await waiting.promise
      await server.close()
      server = null
      // Cut off at closeTimeout with a 421, the message never acknowledged.
      expect(await client.read()).to.deep.equal(['421 4.3.2 Service shutting down, closing connection'])
    })

    it('answers 451 4.3.0 after listenerTimeout, reports SMTPWIRE_ERR_LISTENER_TIMEOUT, and the session goes on', async () => {
      const errors: Array<{ code: string; event: string | null }> = []
      server = new SmtpServer({ domain: 'mx.test', listenerTimeout: 20, maxProcessing: 1 }, (smtp) => {
        let calls = 0
        smtp.on('recipient', () => (++calls === 1 ? never<boolean>() : true))
        smtp.on('error', ({ error, event }) => void errors.push({ code: (error as SmtpwireError).code, event }))
      })
      const { port } = await server.listen(0, '127.0.0.1')
      const client = await SocketClient.connect(port)
      await client.read()
      client.write('EHLO c.test', 'MAIL FROM:<a@b.test>', 'RCPT TO:<slow@d.test>', 'RCPT TO:<fast@d.test>')
      expect((await client.read(4)).slice(1)).to.deep.equal(['250 2.1.0 Sender OK', TIMED_OUT, '250 2.1.5 Recipient OK'])
      expect(errors).to.deep.equal([{ code: 'SMTPWIRE_ERR_LISTENER_TIMEOUT', event: 'recipient' }])
      client.socket.destroy()
    })
  })

  describe('listenerTimeout, with fake timers', () => {
    let clock: sinon.SinonFakeTimers

    beforeEach(() => {
      clock = sinon.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
    })

    afterEach(() => clock.restore())

    it('is 60 s by default: the command gets 451 4.3.0 and error names the event; a late answer is ignored', async () => {
      const late = deferred<boolean>()
      const errors: Error[] = []
      const { client, smtp } = await startAt('ehlo', {}, (s) => {
        s.on('sender', () => late.promise)
        s.on('error', ({ error, event }) => void errors.push(Object.assign(error, { event })))
      })
      const before = client.transcript.length
      client.write('MAIL FROM:<a@b.test>\r\n')
      clock.tick(59_999)
      await nextTurn()
      // (settle() would wait for the decision, so the transcript is read directly while it is pending)
      expect([smtp.isWaiting, client.transcript.slice(before)]).to.deep.equal([true, ''])
      clock.tick(1)
      expect(await client.settle()).to.deep.equal([TIMED_OUT])
      expect(errors.map((e) => [(e as SmtpwireError).code, e.message, (e as Error & { event: string }).event])).to.deep.equal([
        ['SMTPWIRE_ERR_LISTENER_TIMEOUT', 'sender listener did not settle within 60000 ms', 'sender'],
      ])
      late.resolve(true)
      expect(await client.command('NOOP')).to.equal('250 2.0.0 OK')
      // The first MAIL was refused, so there is no sender yet; the listener answers this one at once.
      expect(await client.command('MAIL FROM:<a@b.test>')).to.equal('250 2.1.0 Sender OK')
    })

    it('gives a connect listener that never settles 421 and ends the session', async () => {
      const smtp = new SmtpProtocol({ domain: 'mx.test', listenerTimeout: 1_000 })
      smtp.on('connect', () => never<boolean>())
      const client = new SmtpDriver(smtp)
      const greeting = client.connect()
      clock.tick(1_000)
      expect(await greeting).to.equal('421 Local error in processing, closing connection')
      expect(client.ended).to.equal(true)
    })

    it('is off with 0 and with Infinity', async () => {
      for (const listenerTimeout of [0, Number.POSITIVE_INFINITY]) {
        const { client, smtp } = await startAt('ehlo', { listenerTimeout, commandTimeout: 0, sessionTimeout: 0 }, (s) => s.on('sender', () => never<boolean>()))
        const before = client.transcript.length
        client.write('MAIL FROM:<a@b.test>\r\n')
        clock.tick(24 * 3_600_000)
        await nextTurn()
        expect([smtp.isWaiting, client.transcript.slice(before)]).to.deep.equal([true, ''])
      }
    })
  })
})
