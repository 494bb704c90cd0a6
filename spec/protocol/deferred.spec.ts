import { expect } from 'chai'
import sinon from 'sinon'
import { SmtpDriver } from '../../lib/driver.js'
import { SmtpError, SmtpReply } from '../../lib/errors.js'
import type { Verdict } from '../../lib/events.js'
import { SmtpProtocol } from '../../lib/protocol.js'
import { deferred, nextTurn, recordEvents, startAt } from '../helpers/ladder.js'
import { crlf } from '../helpers/transcript.js'

describe('SmtpProtocol', () => {
  describe('errors nobody hears', () => {
    // Each spec throws errors of a name of its own: warnings are once per kind, process-wide.
    const named = (name: string): Error => Object.assign(new Error(`broken ${name}`), { name })
    let warning: sinon.SinonStub
    beforeEach(() => void (warning = sinon.stub(process, 'emitWarning')))
    afterEach(() => warning.restore())

    it('go to process.emitWarning once per kind when there is no error listener and no logger', async () => {
      const { client } = await startAt('rcpt', {}, (smtp) => {
        smtp.on('message', () => {
          throw named('SpecUnheardMessageError')
        })
        smtp.on('sender', ({ address }) => {
          if (address?.localPart === 'boom') throw named('SpecUnheardSenderError')
        })
      })
      expect(await client.send('DATA', 'x', '.')).to.deep.equal(['354 End data with <CR><LF>.<CR><LF>', '451 4.3.0 Local error in processing, try again later'])
      await client.send('MAIL FROM:<a@b.test>', 'RCPT TO:<c@mx.test>', 'DATA', 'y', '.')
      expect(await client.send('MAIL FROM:<boom@b.test>')).to.deep.equal(['451 4.3.0 Local error in processing, try again later'])
      expect(warning.args.map(([message, options]) => [message, (options as { code?: string }).code])).to.deep.equal([
        [
          "a 'message' listener failed with SpecUnheardMessageError: broken SpecUnheardMessageError (no 'error' listener and no logger; later message:SpecUnheardMessageError errors are not reported)",
          'SMTPWIRE_UNHEARD_ERROR',
        ],
        [
          "a 'sender' listener failed with SpecUnheardSenderError: broken SpecUnheardSenderError (no 'error' listener and no logger; later sender:SpecUnheardSenderError errors are not reported)",
          'SMTPWIRE_UNHEARD_ERROR',
        ],
      ])
    })

    it('are not warned about when an error listener or a logger hears them', async () => {
      const heard: string[] = []
      const logged: string[] = []
      const logger = { debug() {}, info() {}, warn() {}, error: (line: string) => void logged.push(line) }
      const withListener = await startAt('rcpt', {}, (smtp) => {
        smtp.on('message', () => {
          throw named('SpecHeardError')
        })
        smtp.on('error', ({ error }) => void heard.push(error.name))
      })
      const withLogger = await startAt('rcpt', { logger }, (smtp) =>
        smtp.on('message', () => {
          throw named('SpecHeardError')
        }),
      )
      await withListener.client.send('DATA', 'x', '.')
      await withLogger.client.send('DATA', 'x', '.')
      expect(heard).to.deep.equal(['SpecHeardError'])
      expect(logged).to.have.length(1)
      expect(logged[0]).to.match(/message listener failed: broken SpecHeardError$/)
      expect(warning.called).to.equal(false)
    })
  })

  describe('deferred replies', () => {
    // Issue 12: the input mode says 'closed' at once, but waiting follows the listener itself.
    it('stays waiting after close() until the pending listener settles, and whenIdle() waits for it', async () => {
      const verdict = deferred<Verdict>()
      const { smtp, client } = await startAt('ehlo', {}, (protocol) => protocol.on('sender', () => verdict.promise))
      client.write(crlf('MAIL FROM:<a@b.test>'))
      await nextTurn()
      expect(smtp.isWaiting).to.equal(true)
      smtp.close()
      expect(smtp.closed).to.equal(true)
      expect(smtp.isWaiting).to.equal(true)
      let idle = false
      const whenIdle = smtp.whenIdle().then(() => void (idle = true))
      await nextTurn()
      expect(idle).to.equal(false)
      verdict.resolve(true)
      await whenIdle
      expect(smtp.isWaiting).to.equal(false)
    })

    it('sends the reply only when the listener Promise settles, and reads nothing meanwhile', async () => {
      const verdict = deferred<Verdict>()
      const { client } = await startAt('ehlo', {}, (smtp) => smtp.on('sender', () => verdict.promise))
      const before = client.transcript
      client.write(crlf('MAIL FROM:<a@b.test>', 'NOOP'))
      await nextTurn()
      expect(client.transcript).to.equal(before)
      expect(client.paused).to.equal(true)
      verdict.resolve(true)
      expect(await client.settle()).to.deep.equal(['250 2.1.0 Sender OK', '250 2.0.0 OK'])
      expect(client.paused).to.equal(false)
    })

    it('answers a pipelined group in order, asking each listener only after the previous reply', async () => {
      const pending: Array<ReturnType<typeof deferred<Verdict>>> = []
      const sender = sinon.spy(() => {
        const d = deferred<Verdict>()
        pending.push(d)
        return d.promise
      })
      const recipient = sinon.spy(({ address }: { address: { localPart: string } }) => {
        const d = deferred<Verdict>()
        pending.push(d)
        return d.promise.then((ok) => (address.localPart === 'late' ? false : ok))
      })
      const { client } = await startAt('ehlo', {}, (smtp) => {
        smtp.on('sender', sender)
        smtp.on('recipient', recipient)
      })
      client.write(crlf('MAIL FROM:<a@b.test>', 'RCPT TO:<one@d.test>', 'RCPT TO:<late@d.test>', 'DATA'))
      await nextTurn()
      expect(sender.callCount).to.equal(1)
      expect(recipient.callCount).to.equal(0)
      pending[0]?.resolve(true)
      await nextTurn()
      expect(recipient.callCount).to.equal(1)
      expect(client.transcript).to.match(/250 2\.1\.0 Sender OK\r\n$/)
      pending[1]?.resolve(true)
      await nextTurn()
      expect(recipient.callCount).to.equal(2)
      pending[2]?.resolve(true)
      expect(await client.settle()).to.deep.equal([
        '250 2.1.0 Sender OK',
        '250 2.1.5 Recipient OK',
        '550 5.1.1 Recipient rejected',
        '354 End data with <CR><LF>.<CR><LF>',
      ])
    })

    it('waits for every listener, then lets the first refusal decide', async () => {
      const slow = deferred<Verdict>()
      const first = sinon.spy(() => true)
      const second = sinon.spy(() => slow.promise)
      const third = sinon.spy(() => false)
      const { client } = await startAt('mail', {}, (smtp) => {
        smtp.on('recipient', first)
        smtp.on('recipient', second)
        smtp.on('recipient', third)
      })
      client.write(crlf('RCPT TO:<a@d.test>'))
      await nextTurn()
      expect(third.calledOnce).to.equal(true)
      expect(client.transcript).to.not.include('Recipient')
      slow.resolve(new SmtpReply(251, 'User not local; will forward', '2.1.5'))
      expect(await client.settle()).to.deep.equal(['550 5.1.1 Recipient rejected'])
      sinon.assert.callOrder(first, second, third)
    })

    it('sends a listener’s own positive reply', async () => {
      const { client } = await startAt('mail', {}, (smtp) => {
        smtp.on('recipient', () => new SmtpReply(251, 'User not local; will forward', '2.1.5'))
      })
      expect(await client.send('RCPT TO:<a@d.test>')).to.deep.equal(['251 2.1.5 User not local; will forward'])
    })

    describe('with an SmtpError', () => {
      const rejections: Array<[string, () => unknown, string]> = [
        ['thrown', () => { throw new SmtpError(550, 'Relay access denied', '5.7.1') }, '550 5.7.1 Relay access denied'],
        ['rejected', () => Promise.reject(new SmtpError(450, 'Greylisted, try later', '4.7.1')), '450 4.7.1 Greylisted, try later'],
        ['returned', () => new SmtpError(553, 'Mailbox name not allowed', '5.1.3'), '553 5.1.3 Mailbox name not allowed'],
        ['thrown without an enhanced code', () => { throw new SmtpError(452, 'Out of space') }, '452 4.0.0 Out of space'],
        ['thrown with two lines', () => { throw new SmtpError(550, ['No such user', 'See the list'], '5.1.1') }, '550-5.1.1 No such user\n550 5.1.1 See the list'],
      ]
      for (const [how, listener, reply] of rejections) {
        it(`sends exactly its reply when ${how}`, async () => {
          const { client } = await startAt('mail', {}, (smtp) => smtp.on('recipient', listener as () => Verdict))
          expect(await client.send('RCPT TO:<a@d.test>', 'NOOP')).to.deep.equal([reply, '250 2.0.0 OK'])
        })
      }

      it('closes the connection after a 421', async () => {
        const { smtp, client } = await startAt('ehlo', {}, (s) => s.on('sender', () => Promise.reject(new SmtpError(421, 'Too busy', '4.3.2'))))
        const log = recordEvents(smtp)
        expect(await client.send('MAIL FROM:<a@b.test>', 'NOOP')).to.deep.equal(['421 4.3.2 Too busy'])
        expect(client.ended).to.equal(true)
        expect(log).to.deep.equal(['sender', 'close:protocol'])
      })
    })

    describe('with a listener that throws something else', () => {
      for (const how of ['throws', 'rejects'] as const) {
        it(`answers 451 when it ${how}, emits error, and goes on`, async () => {
          const failure = new Error('database down')
          const { smtp, client } = await startAt('ehlo', {}, (s) => {
            s.on('sender', () => {
              if (how === 'throws') throw failure
              return Promise.reject(failure)
            })
          })
          const errors: unknown[] = []
          smtp.on('error', ({ error, event }) => void errors.push([error, event]))
          const replies = await client.send('MAIL FROM:<a@b.test>', 'NOOP')
          expect(replies).to.deep.equal(['451 4.3.0 Local error in processing, try again later', '250 2.0.0 OK'])
          expect(errors).to.deep.equal([[failure, 'sender']])
          expect(client.ended).to.equal(false)
        })
      }

      it('reports every failing listener once', async () => {
        const { smtp, client } = await startAt('ehlo', {}, (s) => {
          s.on('sender', () => Promise.reject(new Error('one')))
          s.on('sender', () => {
            throw new Error('two')
          })
        })
        const messages: string[] = []
        smtp.on('error', ({ error }) => void messages.push(error.message))
        await client.send('MAIL FROM:<a@b.test>')
        expect(messages).to.deep.equal(['one', 'two'])
      })
    })

    describe('default refusals (a listener returns false)', () => {
      const defaults: Array<[event: string, lines: string[], reply: string]> = [
        ['ehlo', ['EHLO c.test'], '550 Hello rejected'],
        ['sender', ['EHLO c.test', 'MAIL FROM:<a@b.test>'], '550 5.7.1 Sender rejected'],
        ['recipient', ['EHLO c.test', 'MAIL FROM:<a@b.test>', 'RCPT TO:<c@d.test>'], '550 5.1.1 Recipient rejected'],
        ['data', ['EHLO c.test', 'MAIL FROM:<a@b.test>', 'RCPT TO:<c@d.test>', 'DATA'], '554 5.7.1 Transaction rejected'],
        ['vrfy', ['EHLO c.test', 'VRFY x'], '550 5.1.1 User unknown'],
      ]
      for (const [event, lines, reply] of defaults) {
        it(`answers ${reply.slice(0, 3)} for ${event}`, async () => {
          const { client } = await startAt('connected', {}, (smtp) => smtp.on(event as 'sender', () => false))
          const replies = await client.send(...lines)
          expect(replies[replies.length - 1]).to.equal(reply)
        })
      }

      it('answers 550 when the message is refused, and 250 only after acceptance', async () => {
        const verdict = deferred<Verdict>()
        const { client } = await startAt('rcpt', {}, (smtp) => smtp.on('message', () => verdict.promise))
        await client.send('DATA')
        client.write(crlf('hello', '.'))
        await nextTurn()
        expect(client.transcript).to.not.include('Message')
        verdict.resolve(false)
        expect(await client.settle()).to.deep.equal(['550 5.7.1 Message rejected'])
      })
    })

    describe('connect', () => {
      it('refuses with 554, then answers 503 to everything but QUIT', async () => {
        const { client } = await startAtConnect(() => false)
        expect(client.greeting).to.equal('554 No SMTP service here')
        expect(await client.driver.send('EHLO c.test', 'MAIL FROM:<a@b.test>', 'QUIT')).to.deep.equal([
          '503 Connection rejected, only QUIT is accepted',
          '503 Connection rejected, only QUIT is accepted',
          // no EHLO was accepted, so no enhanced codes (RFC 2034)
          '221 mx.test Service closing transmission channel',
        ])
      })

      it('greets only once an async listener accepts', async () => {
        const { client } = await startAtConnect(async () => true)
        expect(client.greeting).to.equal('220 mx.test ESMTP smtpwire')
      })

      it('closes at once on a 421', async () => {
        const { client } = await startAtConnect(() => {
          throw new SmtpError(421, 'Too many connections from your address', '4.7.0')
        })
        expect(client.greeting).to.equal('421 Too many connections from your address')
        expect(client.driver.ended).to.equal(true)
      })

      it('answers 421 when a listener blows up', async () => {
        const { client } = await startAtConnect(() => {
          throw new Error('boom')
        })
        expect(client.greeting).to.equal('421 Local error in processing, closing connection')
      })
    })

    describe('a listener that ends the session', () => {
      // Regression (issue 6, found by the fuzzer): a listener that closed the session synchronously
      // did not stop the command, so `message` was still asked and `transaction` told after `close`.
      it('stops the command when a listener closes the session synchronously', async () => {
        const message = sinon.spy()
        const { smtp, client } = await startAt('rcpt', { chunkSize: 1 }, (s) => {
          s.on('dataChunk', () => s.close())
          s.on('message', message)
        })
        const log = recordEvents(smtp, ['dataChunk'])
        client.write(crlf('DATA', 'hi', '.'))
        await client.settle()
        expect(message.called).to.equal(false)
        expect(log).to.deep.equal(['data', 'headers', 'transaction:closed', 'close:shutdown:aborted'])
        expect(smtp.session.counters.messages).to.equal(0)
        expect(smtp.bufferedInput).to.equal(0)
      })

      // Regression (issue 6, found by the fuzzer): a 421 refusal of the message closed the session,
      // then a second `transaction` event followed `close`.
      it('tells nothing after close when a refusal of the message is a 421', async () => {
        const { smtp, client } = await startAt('rcpt', {}, (s) => s.on('message', async () => Promise.reject(new SmtpError(421, 'Go away', '4.7.0'))))
        const log = recordEvents(smtp)
        expect(await client.send('DATA', 'hi', '.')).to.deep.equal(['354 End data with <CR><LF>.<CR><LF>', '421 4.7.0 Go away'])
        expect(log).to.deep.equal(['data', 'headers', 'dataChunk', 'message', 'transaction:closed', 'close:protocol:aborted'])
      })

      it('still reports a listener that fails after the session closed', async () => {
        const failing = deferred<Verdict>()
        const { smtp, client } = await startAt('ehlo', {}, (s) => s.on('sender', () => failing.promise))
        const errors: string[] = []
        smtp.on('error', ({ error, event }) => void errors.push(`${event}: ${error.message}`))
        client.write(crlf('MAIL FROM:<a@b.test>'))
        await nextTurn()
        smtp.destroy()
        failing.reject(new Error('too late'))
        await smtp.settled()
        expect(errors).to.deep.equal(['sender: too late'])
      })
    })

    describe('listener registry', () => {
      it('runs a once() listener a single time', async () => {
        const once = sinon.spy()
        const { client } = await startAt('connected', {}, (smtp) => smtp.once('ehlo', once))
        await client.send('EHLO a.test', 'EHLO b.test')
        expect(once.callCount).to.equal(1)
      })

      it('removes a once() listener with off() and the same function, before it ran', async () => {
        const once = sinon.spy((): boolean => false)
        const { smtp, client } = await startAt('ehlo', {}, (s) => s.once('sender', once))
        expect(smtp.listenerCount('sender')).to.equal(1)
        smtp.off('sender', once)
        expect(smtp.listenerCount('sender')).to.equal(0)
        expect(await client.send('MAIL FROM:<a@b.test>')).to.deep.equal(['250 2.1.0 Sender OK'])
        expect(once.called).to.equal(false)
      })

      it('off() removes the latest registration of a function, whether on() or once() added it', async () => {
        const calls: string[] = []
        const first = (): void => void calls.push('first')
        const second = (): void => void calls.push('second')
        const { smtp, client } = await startAt('ehlo', {}, (s) => s.on('sender', first).once('sender', second).on('sender', second))
        smtp.off('sender', second)
        expect(smtp.listenerCount('sender')).to.equal(2)
        await client.send('MAIL FROM:<a@b.test>', 'RSET', 'MAIL FROM:<a@b.test>')
        // the once() registration stayed and ran once; the on() one was removed
        expect(calls).to.deep.equal(['first', 'second', 'first'])
      })

      it('stops calling a listener removed with off()', async () => {
        const refuse = (): boolean => false
        const { smtp, client } = await startAt('ehlo', {}, (s) => s.on('sender', refuse))
        expect(smtp.listenerCount('sender')).to.equal(1)
        smtp.off('sender', refuse)
        expect(smtp.listenerCount('sender')).to.equal(0)
        expect(await client.send('MAIL FROM:<a@b.test>')).to.deep.equal(['250 2.1.0 Sender OK'])
      })
    })
  })
})

/** A session whose `connect` listener is `listener`: the greeting it got, and its driver. */
async function startAtConnect(listener: () => unknown): Promise<{ client: { greeting: string; driver: SmtpDriver } }> {
  const smtp = new SmtpProtocol({ domain: 'mx.test' })
  smtp.on('connect', listener as () => Verdict)
  const driver = new SmtpDriver(smtp)
  const greeting = await driver.connect()
  return { client: { greeting, driver } }
}
