import { expect } from 'chai'
import nodemailer from 'nodemailer'
import { SmtpReply } from '../../lib/errors.js'
import type { MailParams, RcptParams } from '../../lib/params.js'
import { SmtpServer } from '../../lib/server.js'
import { requirePython, runPython } from '../helpers/python.js'
import { SampleServer, splitTrace } from '../helpers/sample-server.js'

describe('ESMTP extensions with real clients', () => {
  let server: SmtpServer | null = null

  afterEach(async () => {
    await server?.close()
    server = null
  })

  it('nodemailer: SIZE, 8BITMIME, SMTPUTF8 and DSN parameters arrive parsed, the message intact', async () => {
    let mail: MailParams | null = null
    const rcpts: Array<{ address: string; params: RcptParams }> = []
    let body = ''
    server = new SmtpServer({ domain: 'mx.test', dsn: true }, (smtp) => {
      smtp.on('sender', ({ params }) => void (mail = params))
      smtp.on('recipient', ({ address, params }) => void rcpts.push({ address: address.address, params }))
      smtp.on('message', (e) => void (body = e.body?.toString('utf8') ?? ''))
    })
    const { port } = await server.listen(0, '127.0.0.1')
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true })
    // A raw 8-bit message: nodemailer declares SIZE and BODY=8BITMIME from the envelope, and
    // SMTPUTF8 for the internationalised addresses.
    const raw = 'From: jörg@bücher.test\r\nSubject: Grüße aus Köln\r\n\r\nSchöne Grüße\r\n.leading dot\r\n'
    const info = await transport.sendMail({
      envelope: { from: 'jörg@bücher.test', to: ['ünïcødé@example.test'], size: Buffer.byteLength(raw), use8BitMime: true },
      raw,
      dsn: { id: 'envelope-42', return: 'headers', notify: ['success', 'failure'], recipient: 'jörg@bücher.test' },
    })
    transport.close()
    expect(info.response).to.equal('250 2.0.0 Message accepted')
    expect(mail).to.include({ smtpUtf8: true, body: '8BITMIME', size: Buffer.byteLength(raw), ret: 'HDRS', envid: 'envelope-42' })
    expect(rcpts.map((r) => r.address)).to.deep.equal(['ünïcødé@example.test'])
    expect(rcpts[0]?.params.notify).to.deep.equal(['SUCCESS', 'FAILURE'])
    // nodemailer xtext-encodes the UTF-8 ORCPT octet by octet
    expect(rcpts[0]?.params.orcpt).to.deep.equal({ type: 'rfc822', address: 'jörg@bücher.test' })
    expect(body).to.equal(raw)
  })

  it('Python smtplib.LMTP: one reply per recipient after DATA, as the message listener decides', async function (this: Mocha.Context) {
    requirePython(this)
    server = new SmtpServer({ domain: 'mx.test', lmtp: true }, (smtp) => {
      smtp.on('message', () => [true, new SmtpReply(452, 'Mailbox full, try later', '4.2.2')])
    })
    const { port } = await server.listen(0, '127.0.0.1')
    const script = [
      'import smtplib, sys',
      "client = smtplib.LMTP('127.0.0.1', int(sys.argv[1]))",
      'code, lines = client.ehlo()',
      "print(code, b'PIPELINING' in lines)",
      "client.mail('a@b.test')",
      "client.rcpt('one@mx.test')",
      "client.rcpt('two@mx.test')",
      "print(*client.data(b'Subject: lmtp\\r\\n\\r\\nhello\\r\\n'))",
      'print(*client.getreply())  # LMTP: the second recipient\'s reply',
      'client.quit()',
    ].join('\n')
    const output = await runPython(script, String(port))
    expect(output.trim().split('\n')).to.deep.equal([
      '250 True',
      "250 b'2.0.0 Message accepted'",
      "452 b'4.2.2 Mailbox full, try later'",
    ])
  })

  describe('against the Maildir sample', () => {
    let sample: SampleServer

    beforeEach(async () => {
      sample = await SampleServer.start()
    })

    afterEach(async () => {
      await sample.stop()
    })

    it('Python smtplib with BDAT sent by hand: a BINARYMIME body is stored byte for byte', async function (this: Mocha.Context) {
      requirePython(this)
      const script = [
        'import smtplib, sys',
        "client = smtplib.SMTP('127.0.0.1', int(sys.argv[1]))",
        'client.ehlo()',
        "assert client.has_extn('chunking') and client.has_extn('binarymime')",
        "print(*client.mail('a@b.test', ['BODY=BINARYMIME']))",
        "print(*client.rcpt('c@d.test'))",
        "first = b'Subject: binary\\r\\n\\r\\n\\x00\\x01\\r\\n.\\r\\n'",
        "last = bytes(range(256))",
        "client.send(b'BDAT %d\\r\\n' % len(first) + first)",
        'print(*client.getreply())',
        "client.send(b'BDAT %d LAST\\r\\n' % len(last) + last)",
        'print(*client.getreply())',
        'client.quit()',
      ].join('\n')
      const output = await runPython(script, String(sample.port))
      expect(output.trim().split('\n')).to.deep.equal([
        "250 b'2.1.0 Sender OK'",
        "250 b'2.1.5 Recipient OK'",
        "250 b'2.0.0 26 octets received'",
        "250 b'2.0.0 Message accepted'",
      ])
      const [file] = await sample.delivered()
      const { message } = splitTrace(file as Buffer)
      const expected = Buffer.concat([Buffer.from('Subject: binary\r\n\r\n\x00\x01\r\n.\r\n', 'latin1'), Buffer.from(Array.from({ length: 256 }, (_, i) => i))])
      expect(message.equals(expected)).to.equal(true)
    })
  })
})
