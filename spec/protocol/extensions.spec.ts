import { expect } from 'chai'
import { SmtpError, SmtpReply } from '../../lib/errors.js'
import type { MailParams, RcptParams } from '../../lib/params.js'
import { deferred, nextTurn, startAt } from '../helpers/ladder.js'
import { crlf } from '../helpers/transcript.js'

const ENHANCED = /^\d{3}[ -][245]\.\d{1,3}\.\d{1,3}( |$)/

describe('SmtpProtocol', () => {
  describe('SIZE (RFC 1870)', () => {
    it('advertises the limit and refuses a larger declared size at MAIL with 552', async () => {
      const { client } = await startAt('connected', { maxMessageSize: 1000 })
      expect(await client.command('EHLO c.test')).to.include('250-SIZE 1000\n')
      expect(await client.send('MAIL FROM:<a@b.test> SIZE=1001')).to.deep.equal(['552 5.3.4 Declared message size exceeds fixed maximum message size'])
    })

    it('still enforces the limit while the data streams, whatever SIZE declared', async () => {
      const { client } = await startAt('ehlo', { maxMessageSize: 10 })
      const replies = await client.send('MAIL FROM:<a@b.test> SIZE=5', 'RCPT TO:<c@d.test>', 'DATA', 'much more than ten octets', '.')
      expect(replies[3]).to.equal('552 5.3.4 Message size exceeds fixed maximum message size')
    })

    it('advertises SIZE without a number when there is no limit', async () => {
      const { client } = await startAt('connected', { maxMessageSize: 0 })
      expect(await client.command('EHLO c.test')).to.include('250-SIZE\n')
    })

    it('neither advertises nor accepts SIZE= when size is off', async () => {
      const { client } = await startAt('connected', { size: false })
      expect(await client.command('EHLO c.test')).to.not.include('SIZE')
      expect(await client.send('MAIL FROM:<a@b.test> SIZE=10')).to.deep.equal(['555 5.5.4 Parameter not recognized or not implemented'])
    })
  })

  describe('PIPELINING (RFC 2920)', () => {
    it('answers a MAIL/RCPT/RCPT/DATA group sent in one write in order, then reads the rest as message data', async () => {
      const verdicts = [deferred<boolean>(), deferred<boolean>()]
      let body = ''
      const { client } = await startAt('ehlo', {}, (smtp) => {
        let n = 0
        smtp.on('recipient', () => (verdicts[n++] as ReturnType<typeof deferred<boolean>>).promise)
        smtp.on('message', (e) => void (body = String(e.body)))
      })
      client.write(crlf('MAIL FROM:<a@b.test>', 'RCPT TO:<x@d.test>', 'RCPT TO:<y@d.test>', 'DATA', 'RSET', 'MAIL FROM:<evil@x.test>', '.'))
      await nextTurn()
      verdicts[1]?.resolve(true) // the second answers first: its reply must still come second
      await nextTurn()
      verdicts[0]?.resolve(false)
      expect(await client.settle()).to.deep.equal([
        '250 2.1.0 Sender OK',
        '550 5.1.1 Recipient rejected',
        '250 2.1.5 Recipient OK',
        '354 End data with <CR><LF>.<CR><LF>',
        '250 2.0.0 Message accepted',
      ])
      expect(body).to.equal('RSET\r\nMAIL FROM:<evil@x.test>\r\n')
    })

    it('is advertised unless turned off', async () => {
      const on = await startAt('connected')
      expect(await on.client.command('EHLO c.test')).to.include('250-PIPELINING\n')
      const off = await startAt('connected', { pipelining: false })
      expect(await off.client.command('EHLO c.test')).to.not.include('PIPELINING')
    })
  })

  describe('8BITMIME (RFC 6152) and SMTPUTF8 (RFC 6531)', () => {
    it('exposes BODY= and SMTPUTF8 on the transaction and delivers 8-bit text intact', async () => {
      let params: MailParams | null = null
      let body: Buffer = Buffer.alloc(0)
      const { client } = await startAt('ehlo', {}, (smtp) => {
        smtp.on('message', (e) => {
          params = e.transaction.mailParams
          body = e.body ?? Buffer.alloc(0)
        })
      })
      await client.send('MAIL FROM:<jürgen@bücher.test> BODY=8BITMIME SMTPUTF8', 'RCPT TO:<ǆ@example.test>', 'DATA')
      client.write(Buffer.from('Subject: Grüße\r\n\r\n\u00e9t\u00e9 \u{1f600}\r\n.\r\n'))
      expect(await client.settle()).to.deep.equal(['250 2.0.0 Message accepted'])
      expect(params).to.include({ body: '8BITMIME', smtpUtf8: true })
      expect(body.toString('utf8')).to.equal('Subject: Grüße\r\n\r\nété 😀\r\n')
    })

    it('refuses a UTF-8 reverse-path without SMTPUTF8 with 550 5.6.7 at MAIL (RFC 6531 §3.5), and asks no listener', async () => {
      let asked = 0
      const { client } = await startAt('ehlo', {}, (smtp) => smtp.on('sender', () => void asked++))
      expect(await client.send('MAIL FROM:<jörg@b.test>', 'MAIL FROM:<jörg@b.test> SMTPUTF8')).to.deep.equal([
        '550 5.6.7 Non-ASCII address needs the SMTPUTF8 parameter',
        '250 2.1.0 Sender OK',
      ])
      expect(asked).to.equal(1)
    })

    it('refuses a UTF-8 recipient in a transaction that did not declare SMTPUTF8 with 553 5.6.7', async () => {
      const { client } = await startAt('mail')
      expect(await client.send('RCPT TO:<ǆ@example.test>')).to.deep.equal(['553 5.6.7 Non-ASCII address needs the SMTPUTF8 parameter'])
    })

    it('refuses BODY= and SMTPUTF8 when the extensions are off', async () => {
      const { client } = await startAt('ehlo', { eightBitMime: false, smtpUtf8: false, binaryMime: false })
      expect(await client.send('MAIL FROM:<a@b.test> BODY=8BITMIME', 'MAIL FROM:<a@b.test> SMTPUTF8')).to.deep.equal([
        '555 5.5.4 Parameter not recognized or not implemented',
        '555 5.5.4 Parameter not recognized or not implemented',
      ])
    })

    it('accepts BODY=7BIT and refuses an unknown body type with 501', async () => {
      const { client } = await startAt('ehlo')
      expect(await client.send('MAIL FROM:<a@b.test> BODY=7bit', 'RSET', 'MAIL FROM:<a@b.test> BODY=9BIT')).to.deep.equal([
        '250 2.1.0 Sender OK',
        '250 2.0.0 Reset OK',
        '501 5.5.4 Invalid parameter value',
      ])
    })

    it('never lets non-ASCII or invalid UTF-8 bytes crash the parser', async () => {
      const { client } = await startAt('ehlo')
      const lines = [Buffer.from('MAIL FROM:<\xff\xfe@x>\r\n', 'latin1'), Buffer.from('\xc3\x28 hello\r\n', 'latin1'), Buffer.from('RCPT TO:<é@x.test>\r\n'), Buffer.from('NOOP\r\n')]
      client.write(Buffer.concat(lines))
      expect(await client.settle()).to.deep.equal([
        '500 5.5.2 Command is not valid UTF-8',
        '500 5.5.2 Command is not valid UTF-8',
        '503 5.5.1 Need MAIL command first',
        '250 2.0.0 OK',
      ])
    })
  })

  describe('ENHANCEDSTATUSCODES (RFC 2034, RFC 3463)', () => {
    it('puts an x.y.z code on every reply after EHLO except the EHLO reply and 3xx', async () => {
      const { client } = await startAt('connected', {}, (smtp) => smtp.on('recipient', ({ address }) => address.localPart !== 'no'))
      await client.command('EHLO c.test')
      const replies = await client.send(
        'NOOP', 'VRFY x', 'EXPN y', 'HELP', 'FOO', 'RCPT TO:<a@b.test>', 'MAIL FROM:<a@b.test>', 'MAIL FROM:<a@b.test>',
        'RCPT TO:<no@b.test>', 'RCPT TO:<yes@b.test>', 'DATA', 'x', '.', 'RSET', 'QUIT',
      )
      for (const reply of replies) {
        if (reply.startsWith('354')) expect(reply).to.equal('354 End data with <CR><LF>.<CR><LF>')
        else for (const line of reply.split('\n')) expect(line, reply).to.match(ENHANCED)
      }
      expect(replies).to.have.length(14)
    })

    it('leaves them off before EHLO and after plain HELO', async () => {
      const { client } = await startAt('connected')
      expect(await client.send('NOOP', 'HELO c.test', 'MAIL FROM:<a@b.test>', 'FOO')).to.deep.equal([
        '250 OK',
        '250 mx.test greets c.test',
        '250 Sender OK',
        '500 Command unrecognized',
      ])
    })

    it('leaves them off when the extension is off', async () => {
      const { client } = await startAt('connected', { enhancedStatusCodes: false })
      expect(await client.command('EHLO c.test')).to.not.include('ENHANCEDSTATUSCODES')
      expect(await client.send('MAIL FROM:<a@b.test>')).to.deep.equal(['250 Sender OK'])
    })

    it('uses an SmtpError’s own code, or X.0.0 when it has none', async () => {
      const { client } = await startAt('mail', {}, (smtp) =>
        smtp.on('recipient', ({ address }) => {
          throw address.localPart === 'own' ? new SmtpError(550, 'Mailbox disabled', '5.2.1') : new SmtpError(450, 'Try later')
        }),
      )
      expect(await client.send('RCPT TO:<own@b.test>', 'RCPT TO:<other@b.test>')).to.deep.equal(['550 5.2.1 Mailbox disabled', '450 4.0.0 Try later'])
    })
  })

  describe('DSN (RFC 3461)', () => {
    it('parses RET, ENVID, NOTIFY and ORCPT, xtext-decoded', async () => {
      let mail: MailParams | null = null
      const rcpts: RcptParams[] = []
      const { client } = await startAt('ehlo', { dsn: true }, (smtp) => {
        smtp.on('sender', ({ params }) => void (mail = params))
        smtp.on('recipient', ({ params }) => void rcpts.push(params))
      })
      expect(await client.send(
        'MAIL FROM:<a@b.test> RET=FULL ENVID=abc+2Bdef+3D1',
        'RCPT TO:<x@d.test> NOTIFY=NEVER ORCPT=rfc822;x+2Bext@d.test',
        'RCPT TO:<y@d.test> NOTIFY=SUCCESS,FAILURE,DELAY',
      )).to.deep.equal(['250 2.1.0 Sender OK', '250 2.1.5 Recipient OK', '250 2.1.5 Recipient OK'])
      expect(mail).to.include({ ret: 'FULL', envid: 'abc+def=1' })
      expect(rcpts.map((p) => [p.notify, p.orcpt])).to.deep.equal([
        [['NEVER'], { type: 'rfc822', address: 'x+ext@d.test' }],
        [['SUCCESS', 'FAILURE', 'DELAY'], null],
      ])
    })

    it('reads a UTF-8 ORCPT sent as xtext octets or as RFC 6533 \\x{…} escapes', async () => {
      const orcpts: unknown[] = []
      const { client } = await startAt('mail', { dsn: true }, (smtp) => smtp.on('recipient', ({ params }) => void orcpts.push(params.orcpt)))
      await client.send('RCPT TO:<x@d.test> ORCPT=rfc822;j+C3+B6rg@d.test', 'RCPT TO:<y@d.test> ORCPT=utf-8;j\\x{F6}rg@b\\x{FC}cher.test')
      expect(orcpts).to.deep.equal([
        { type: 'rfc822', address: 'jörg@d.test' },
        { type: 'utf-8', address: 'jörg@bücher.test' },
      ])
    })

    const bad: Array<[string, string]> = [
      ['RET=NONE', 'MAIL FROM:<a@b.test> RET=NONE'],
      ['ENVID with bad xtext', 'MAIL FROM:<a@b.test> ENVID=a+zz'],
      ['ENVID over 100 characters', `MAIL FROM:<a@b.test> ENVID=${'e'.repeat(101)}`],
      ['NOTIFY=NEVER with others', 'RCPT TO:<x@d.test> NOTIFY=NEVER,SUCCESS'],
      ['NOTIFY=SOMETIMES', 'RCPT TO:<x@d.test> NOTIFY=SOMETIMES'],
      ['ORCPT without a type', 'RCPT TO:<x@d.test> ORCPT=x@d.test'],
    ]
    for (const [name, line] of bad) {
      it(`refuses ${name} with 501`, async () => {
        const { client } = await startAt(line.startsWith('RCPT') ? 'mail' : 'ehlo', { dsn: true })
        expect(await client.send(line)).to.deep.equal(['501 5.5.4 Invalid parameter value'])
      })
    }

    it('refuses DSN parameters with 555 when DSN is off, as it is by default', async () => {
      const { client } = await startAt('mail')
      expect(await client.send('RCPT TO:<x@d.test> NOTIFY=NEVER')).to.deep.equal(['555 5.5.4 Parameter not recognized or not implemented'])
    })
  })

  describe('HELP, VRFY and EXPN events', () => {
    it('lets a listener answer HELP with its own lines', async () => {
      const { client } = await startAt('ehlo', {}, (smtp) =>
        smtp.on('help', ({ argument }) => new SmtpReply(214, argument ? [`${argument}: see RFC 5321`] : ['Commands:', 'EHLO MAIL RCPT DATA'], '2.0.0')),
      )
      expect(await client.send('HELP', 'HELP MAIL')).to.deep.equal([
        '214-2.0.0 Commands:\n214 2.0.0 EHLO MAIL RCPT DATA',
        '214 2.0.0 MAIL: see RFC 5321',
      ])
    })

    it('lets a listener expand a list with EXPN', async () => {
      const { client } = await startAt('ehlo', {}, (smtp) =>
        smtp.on('expn', ({ argument }) => argument === 'staff' && new SmtpReply(250, ['Ann <ann@d.test>', 'Bob <bob@d.test>'], '2.1.5')),
      )
      expect(await client.send('EXPN staff', 'EXPN nobody')).to.deep.equal([
        '250-2.1.5 Ann <ann@d.test>\n250 2.1.5 Bob <bob@d.test>',
        '550 5.1.1 List unknown',
      ])
    })
  })
})
