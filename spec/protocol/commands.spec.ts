import { expect } from 'chai'
import type { SmtpOptions } from '../../lib/options.js'
import { startAt, recordEvents, type Rung } from '../helpers/ladder.js'
import { crlf } from '../helpers/transcript.js'

interface ProtocolCase {
  name: string
  from: Rung
  options?: SmtpOptions
  /** Lines sent in one write; the driver appends CRLF (UTF-8). */
  send: string[]
  /** Raw bytes to send instead of `send`, for input that is not UTF-8. */
  bytes?: Buffer
  /** Every reply, exactly, in order (multi-line replies joined with \n). */
  replies: string[]
  /** True when the server must have ended the connection. */
  ends?: boolean
}

const EHLO_REPLY = [
  '250-mx.test greets client.test',
  '250-PIPELINING',
  '250-SIZE 26214400',
  '250-8BITMIME',
  '250-SMTPUTF8',
  '250-ENHANCEDSTATUSCODES',
  '250-CHUNKING',
  '250 BINARYMIME',
].join('\n')

const cases: ProtocolCase[] = [
  // greeting and HELO/EHLO
  { name: 'answers EHLO with one extension per line', from: 'connected', send: ['EHLO client.test'], replies: [EHLO_REPLY] },
  { name: 'answers HELO with one line and no extensions', from: 'connected', send: ['HELO client.test'], replies: ['250 mx.test greets client.test'] },
  { name: 'accepts an address literal as the EHLO name', from: 'connected', send: ['HELO [192.0.2.1]'], replies: ['250 mx.test greets [192.0.2.1]'] },
  { name: 'refuses EHLO without a name with 501', from: 'connected', send: ['EHLO'], replies: ['501 Syntax: EHLO domain-or-address-literal'] },
  { name: 'refuses HELO with two words with 501', from: 'connected', send: ['HELO a b'], replies: ['501 Syntax: EHLO domain-or-address-literal'] },
  {
    name: 'lists DSN and leaves out what is switched off',
    from: 'connected',
    options: { dsn: true, pipelining: false, chunking: false, smtpUtf8: false, maxMessageSize: 0 },
    send: ['EHLO client.test'],
    replies: ['250-mx.test greets client.test\n250-SIZE\n250-8BITMIME\n250-ENHANCEDSTATUSCODES\n250 DSN'],
  },
  { name: 'takes commands in any case', from: 'connected', send: ['ehlo client.test', 'mAiL fRoM:<a@b.test>', 'rcpt to:<c@d.test>'], replies: [EHLO_REPLY, '250 2.1.0 Sender OK', '250 2.1.5 Recipient OK'] },

  // sequencing (RFC 5321 §4.1.4)
  { name: 'refuses MAIL before HELO with 503', from: 'connected', send: ['MAIL FROM:<a@b.test>'], replies: ['503 Send HELO/EHLO first'] },
  { name: 'refuses a second MAIL with 503', from: 'mail', send: ['MAIL FROM:<a@b.test>'], replies: ['503 5.5.1 Sender already specified'] },
  { name: 'refuses RCPT before MAIL with 503', from: 'ehlo', send: ['RCPT TO:<a@b.test>'], replies: ['503 5.5.1 Need MAIL command first'] },
  { name: 'refuses DATA before MAIL with 503', from: 'ehlo', send: ['DATA'], replies: ['503 5.5.1 Need MAIL command first'] },
  { name: 'refuses DATA before RCPT with 503', from: 'mail', send: ['DATA'], replies: ['503 5.5.1 Need RCPT command first'] },
  { name: 'forgets the transaction on RSET', from: 'rcpt', send: ['RSET', 'RCPT TO:<a@b.test>'], replies: ['250 2.0.0 Reset OK', '503 5.5.1 Need MAIL command first'] },
  { name: 'forgets the transaction on a new EHLO', from: 'rcpt', send: ['EHLO again.test', 'DATA'], replies: [EHLO_REPLY.replace('client.test', 'again.test'), '503 5.5.1 Need MAIL command first'] },
  { name: 'allows a new MAIL after RSET', from: 'mail', send: ['RSET', 'MAIL FROM:<x@y.test>'], replies: ['250 2.0.0 Reset OK', '250 2.1.0 Sender OK'] },

  // paths (RFC 5321 §4.1.2)
  { name: 'accepts the null sender', from: 'ehlo', send: ['MAIL FROM:<>'], replies: ['250 2.1.0 Sender OK'] },
  { name: 'accepts a space after the colon', from: 'ehlo', send: ['MAIL FROM: <a@b.test>'], replies: ['250 2.1.0 Sender OK'] },
  { name: 'refuses a sender without brackets with 501', from: 'ehlo', send: ['MAIL FROM:a@b.test'], replies: ['501 5.1.7 Bad sender address syntax'] },
  { name: 'refuses an unclosed bracket with 501', from: 'ehlo', send: ['MAIL FROM:<a@b.test'], replies: ['501 5.1.7 Bad sender address syntax'] },
  { name: 'refuses a stray bracket with 501', from: 'ehlo', send: ['MAIL FROM:<a@b.test>>'], replies: ['501 5.1.7 Bad sender address syntax'] },
  { name: 'refuses MAIL without FROM: with 501', from: 'ehlo', send: ['MAIL <a@b.test>'], replies: ['501 5.5.4 Syntax error in parameters or arguments'] },
  { name: 'refuses a recipient without a domain with 501', from: 'mail', send: ['RCPT TO:<user>'], replies: ['501 5.1.3 Bad recipient address syntax'] },
  { name: 'refuses the null path as a recipient with 553', from: 'mail', send: ['RCPT TO:<>'], replies: ['553 5.1.3 The null path is only valid as a sender'] },
  { name: 'accepts <Postmaster> without a domain', from: 'mail', send: ['RCPT TO:<Postmaster>'], replies: ['250 2.1.5 Recipient OK'] },
  { name: 'accepts quoted local parts and address literals', from: 'mail', send: ['RCPT TO:<"a b"@[192.0.2.1]>', 'RCPT TO:<x@[IPv6:2001:db8::1]>'], replies: ['250 2.1.5 Recipient OK', '250 2.1.5 Recipient OK'] },
  { name: 'ignores a source route', from: 'mail', send: ['RCPT TO:<@relay.test,@other.test:user@d.test>'], replies: ['250 2.1.5 Recipient OK'] },
  { name: 'refuses a bad address literal with 501', from: 'mail', send: ['RCPT TO:<x@[300.1.1.1]>'], replies: ['501 5.1.3 Bad recipient address syntax'] },

  // parameters
  { name: 'refuses an unknown parameter with 555', from: 'ehlo', send: ['MAIL FROM:<a@b.test> FOO=BAR'], replies: ['555 5.5.4 Parameter not recognized or not implemented'] },
  { name: 'refuses a malformed parameter with 501', from: 'ehlo', send: ['MAIL FROM:<a@b.test> =x'], replies: ['501 5.5.4 Syntax error in parameters or arguments'] },
  { name: 'refuses a duplicate parameter with 501', from: 'ehlo', send: ['MAIL FROM:<a@b.test> SIZE=1 SIZE=2'], replies: ['501 5.5.4 Duplicate parameter'] },
  { name: 'refuses parameters after plain HELO with 555', from: 'connected', send: ['HELO c.test', 'MAIL FROM:<a@b.test> SIZE=10'], replies: ['250 mx.test greets c.test', '555 Parameter not recognized or not implemented'] },

  // other commands
  { name: 'answers NOOP, with or without an argument', from: 'connected', send: ['NOOP', 'NOOP hello'], replies: ['250 OK', '250 OK'] },
  { name: 'answers VRFY with 252 by default', from: 'ehlo', send: ['VRFY someone'], replies: ['252 2.0.0 Cannot VRFY user, but will accept message and attempt delivery'] },
  { name: 'answers EXPN with 502 by default', from: 'ehlo', send: ['EXPN list'], replies: ['502 5.5.1 EXPN not available'] },
  { name: 'refuses VRFY without an argument with 501', from: 'ehlo', send: ['VRFY'], replies: ['501 5.5.4 Syntax error in parameters or arguments'] },
  { name: 'answers HELP with 214', from: 'ehlo', send: ['HELP'], replies: ['214 2.0.0 See https://www.rfc-editor.org/rfc/rfc5321 for the commands'] },
  { name: 'refuses an unknown command with 500', from: 'ehlo', send: ['FOO bar'], replies: ['500 5.5.1 Command unrecognized'] },
  { name: 'refuses an empty line with 500', from: 'ehlo', send: [''], replies: ['500 5.5.1 Command unrecognized'] },
  { name: 'refuses RSET with an argument with 501', from: 'ehlo', send: ['RSET now'], replies: ['501 5.5.4 Syntax error in parameters or arguments'] },
  { name: 'tolerates trailing spaces', from: 'ehlo', send: ['RSET  ', 'NOOP '], replies: ['250 2.0.0 Reset OK', '250 2.0.0 OK'] },
  { name: 'ends the session after 221 on QUIT', from: 'ehlo', send: ['QUIT', 'NOOP'], replies: ['221 2.0.0 mx.test Service closing transmission channel'], ends: true },

  // limits
  { name: 'answers 452 past maxRecipients and keeps the transaction', from: 'mail', options: { maxRecipients: 1 }, send: ['RCPT TO:<a@b.test>', 'RCPT TO:<c@d.test>', 'DATA'], replies: ['250 2.1.5 Recipient OK', '452 4.5.3 Too many recipients', '354 End data with <CR><LF>.<CR><LF>'] },
  { name: 'refuses a declared SIZE over the limit with 552', from: 'ehlo', options: { maxMessageSize: 1000 }, send: ['MAIL FROM:<a@b.test> SIZE=1001', 'MAIL FROM:<a@b.test> SIZE=1000'], replies: ['552 5.3.4 Declared message size exceeds fixed maximum message size', '250 2.1.0 Sender OK'] },
  { name: 'answers 500 to a command line over the limit, then goes on', from: 'ehlo', options: { maxLineLength: 64 }, send: [`NOOP ${'x'.repeat(200)}`, 'NOOP'], replies: ['500 5.5.2 Line too long', '250 2.0.0 OK'] },
  { name: 'closes with 421 after maxErrors failed commands', from: 'ehlo', options: { maxErrors: 3 }, send: ['FOO', 'BAR', 'BAZ', 'NOOP'], replies: ['500 5.5.1 Command unrecognized', '500 5.5.1 Command unrecognized', '421 4.7.0 Too many errors, closing connection'], ends: true },

  // bytes that are not ASCII
  { name: 'refuses a command that is not UTF-8 with 500', from: 'ehlo', send: [], bytes: Buffer.from('NOOP \xff\xfe\r\n', 'latin1'), replies: ['500 5.5.2 Command is not valid UTF-8'] },
  { name: 'refuses a UTF-8 sender without SMTPUTF8 with 550', from: 'ehlo', send: ['MAIL FROM:<jörg@b.test>'], replies: ['550 5.6.7 Non-ASCII address needs the SMTPUTF8 parameter'] },
  { name: 'accepts a UTF-8 address with SMTPUTF8', from: 'ehlo', send: ['MAIL FROM:<jörg@bücher.test> SMTPUTF8', 'RCPT TO:<δοκιμή@παράδειγμα.test>'], replies: ['250 2.1.0 Sender OK', '250 2.1.5 Recipient OK'] },
  { name: 'refuses a NUL byte in a command with 501', from: 'ehlo', send: ['MAIL FROM:<a@b.test>\0'], replies: ['501 5.5.4 Syntax error in parameters or arguments'] },

  // DATA, RSET, QUIT, NOOP in capitals are read from their octets; every near miss is parsed as before
  { name: 'reads the bare verbs of a message from their octets', from: 'rcpt', send: ['NOOP', 'RSET', 'NOOP', 'DATA', 'QUIT'], replies: ['250 2.0.0 OK', '250 2.0.0 Reset OK', '250 2.0.0 OK', '503 5.5.1 Need MAIL command first', '221 2.0.0 mx.test Service closing transmission channel'], ends: true },
  { name: 'answers DATA read from its octets with 354', from: 'rcpt', send: ['DATA'], replies: ['354 End data with <CR><LF>.<CR><LF>'] },
  { name: 'reads the bare verbs in lower case as in capitals', from: 'rcpt', send: ['noop', 'data'], replies: ['250 2.0.0 OK', '354 End data with <CR><LF>.<CR><LF>'] },
  { name: 'refuses four letters that are no verb with 500', from: 'rcpt', send: ['DATQ', 'RSEt', 'QUI', 'NOOPS', 'DATA'], replies: ['500 5.5.1 Command unrecognized', '250 2.0.0 Reset OK', '500 5.5.1 Command unrecognized', '500 5.5.1 Command unrecognized', '503 5.5.1 Need MAIL command first'] },
  { name: 'refuses a bare verb with an argument (501) or glued to a control character (500)', from: 'rcpt', send: ['DATA x', 'QUIT\0', 'RSET\t', 'NOOP x'], replies: ['501 5.5.4 Syntax error in parameters or arguments', '500 5.5.1 Command unrecognized', '500 5.5.1 Command unrecognized', '250 2.0.0 OK'] },
  { name: 'refuses four octets that are not UTF-8 with 500', from: 'rcpt', send: [], bytes: Buffer.from('DAT\xc1\r\nNOO\xd0\r\n', 'latin1'), replies: ['500 5.5.2 Command is not valid UTF-8', '500 5.5.2 Command is not valid UTF-8'] },
  { name: 'refuses a bare verb ended by a bare LF with 500', from: 'rcpt', send: [], bytes: Buffer.from('DATA\nQUIT\r\n'), replies: ['500 5.5.2 Bare CR or LF in command line, use CRLF', '221 2.0.0 mx.test Service closing transmission channel'], ends: true },
]

describe('SmtpProtocol', () => {
  describe('commands', () => {
    for (const c of cases) {
      it(c.name, async () => {
        const { client } = await startAt(c.from, c.options)
        if (c.bytes) client.write(c.bytes)
        else client.write(crlf(...c.send))
        expect(await client.settle()).to.deep.equal(c.replies)
        expect(client.ended).to.equal(c.ends ?? false)
      })
    }
  })

  describe('events', () => {
    it('fires each event of a transaction in order', async () => {
      const { smtp, client } = await startAt('connected')
      const log = recordEvents(smtp)
      await client.send('EHLO client.test', 'MAIL FROM:<a@b.test>', 'RCPT TO:<c@d.test>', 'DATA')
      await client.send('Subject: x', '', 'hi', '.')
      await client.send('RSET', 'QUIT')
      expect(log).to.deep.equal([
        'ehlo',
        'transaction:helo',
        'sender',
        'recipient',
        'data',
        'headers',
        'dataChunk',
        'message',
        'transaction:delivered',
        'reset',
        'transaction:reset',
        'close:quit',
      ])
    })

    it('gives listeners the parsed path and typed parameters', async () => {
      let sender: unknown
      let recipient: unknown
      const { client } = await startAt('ehlo', { dsn: true }, (smtp) => {
        smtp.on('sender', ({ address, params }) => {
          sender = { address, size: params.size, body: params.body, smtpUtf8: params.smtpUtf8, ret: params.ret, envid: params.envid }
        })
        smtp.on('recipient', ({ address, params }) => {
          recipient = { address, notify: params.notify, orcpt: params.orcpt }
        })
      })
      await client.send('MAIL FROM:<"john q"@[192.0.2.9]> SIZE=42 BODY=8bitmime SMTPUTF8 RET=HDRS ENVID=QQ+2B1', 'RCPT TO:<x@d.test> NOTIFY=success,delay ORCPT=rfc822;x+2Bc@d.test')
      expect(sender).to.deep.equal({
        address: { address: '"john q"@[192.0.2.9]', localPart: 'john q', domain: '[192.0.2.9]', isUtf8: false },
        size: 42,
        body: '8BITMIME',
        smtpUtf8: true,
        ret: 'HDRS',
        envid: 'QQ+1',
      })
      expect(recipient).to.deep.equal({
        address: { address: 'x@d.test', localPart: 'x', domain: 'd.test', isUtf8: false },
        notify: ['SUCCESS', 'DELAY'],
        orcpt: { type: 'rfc822', address: 'x+c@d.test' },
      })
    })

    it('passes the null sender as null', async () => {
      let seen: unknown = 'unset'
      const { client } = await startAt('ehlo', {}, (smtp) => smtp.on('sender', ({ address }) => void (seen = address)))
      await client.send('MAIL FROM:<>')
      expect(seen).to.equal(null)
    })

    it('accepts every command when there are no listeners', async () => {
      const { client } = await startAt('connected')
      const replies = await client.send('EHLO c.test', 'MAIL FROM:<a@b.test>', 'RCPT TO:<c@d.test>', 'DATA', 'x', '.')
      expect(replies.slice(1)).to.deep.equal([
        '250 2.1.0 Sender OK',
        '250 2.1.5 Recipient OK',
        '354 End data with <CR><LF>.<CR><LF>',
        '250 2.0.0 Message accepted',
      ])
    })
  })
})
