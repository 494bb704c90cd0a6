import { expect } from 'chai'
import { SmtpError, SmtpReply } from '../../lib/errors.js'
import type { MessageVerdict } from '../../lib/events.js'
import { SmtpDriver } from '../../lib/driver.js'
import { SmtpProtocol } from '../../lib/protocol.js'
import { crlf } from '../helpers/transcript.js'

/** An LMTP session after LHLO, with three recipients given (one of them refused at RCPT). */
async function lmtpWithRecipients(message: () => MessageVerdict | Promise<MessageVerdict>): Promise<SmtpDriver> {
  const smtp = new SmtpProtocol({ domain: 'mx.test', lmtp: true })
  smtp.on('recipient', ({ address }) => address.localPart !== 'unknown')
  smtp.on('message', message)
  const client = new SmtpDriver(smtp)
  await client.connect()
  await client.command('LHLO client.test')
  const replies = await client.send('MAIL FROM:<a@b.test>', 'RCPT TO:<one@mx.test>', 'RCPT TO:<unknown@mx.test>', 'RCPT TO:<two@mx.test>')
  expect(replies).to.deep.equal(['250 2.1.0 Sender OK', '250 2.1.5 Recipient OK', '550 5.1.1 Recipient rejected', '250 2.1.5 Recipient OK'])
  return client
}

describe('SmtpProtocol', () => {
  describe('LMTP (RFC 2033)', () => {
    it('greets as LMTP, answers LHLO with the extensions, and refuses HELO and EHLO with 500', async () => {
      const client = new SmtpDriver({ domain: 'mx.test', lmtp: true })
      expect(await client.connect()).to.equal('220 mx.test LMTP smtpwire')
      expect(await client.send('EHLO c.test', 'HELO c.test')).to.deep.equal([
        '500 This is an LMTP server, use LHLO',
        '500 This is an LMTP server, use LHLO',
      ])
      const lhlo = await client.command('LHLO c.test')
      expect(lhlo.split('\n')[0]).to.equal('250-mx.test greets c.test')
      expect(lhlo).to.include('250-PIPELINING')
    })

    it('refuses LHLO in SMTP mode with 500', async () => {
      const client = new SmtpDriver({ domain: 'mx.test' })
      await client.connect()
      expect(await client.command('LHLO c.test')).to.equal('500 Command unrecognized')
    })

    it('answers the data once per accepted recipient, in RCPT order, as the message listener decides', async () => {
      const client = await lmtpWithRecipients(() => [true, new SmtpReply(452, 'Mailbox full, try later', '4.2.2')])
      expect(await client.send('DATA', 'Subject: x', '', 'hello', '.')).to.deep.equal([
        '354 End data with <CR><LF>.<CR><LF>',
        '250 2.0.0 Message accepted',
        '452 4.2.2 Mailbox full, try later',
      ])
    })

    it('gives every recipient the same answer when the listener returns one verdict', async () => {
      const client = await lmtpWithRecipients(async () => true)
      const replies = await client.send('DATA', 'x', '.')
      expect(replies.slice(1)).to.deep.equal(['250 2.0.0 Message accepted', '250 2.0.0 Message accepted'])
    })

    it('gives every recipient a thrown SmtpError, or 451 for any other error', async () => {
      const refused = await lmtpWithRecipients(() => {
        throw new SmtpError(554, 'Message refused', '5.7.1')
      })
      expect((await refused.send('DATA', 'x', '.')).slice(1)).to.deep.equal(['554 5.7.1 Message refused', '554 5.7.1 Message refused'])
      const failed = await lmtpWithRecipients(() => Promise.reject(new Error('store down')))
      failed.protocol.on('error', () => undefined)
      expect((await failed.send('DATA', 'x', '.')).slice(1)).to.deep.equal([
        '451 4.3.0 Local error in processing, try again later',
        '451 4.3.0 Local error in processing, try again later',
      ])
    })

    it('gives every recipient the refusal of a body that breaks a rule', async () => {
      const client = await lmtpWithRecipients(() => true)
      await client.send('DATA')
      client.write('bare\nline\r\n.\r\n')
      expect(await client.settle()).to.deep.equal([
        '550 5.6.0 Message contains a bare CR or LF, line endings must be CRLF',
        '550 5.6.0 Message contains a bare CR or LF, line endings must be CRLF',
      ])
    })

    it('answers per recipient after BDAT LAST too', async () => {
      const client = await lmtpWithRecipients(() => [false, true])
      client.write('BDAT 3 LAST\r\nabc')
      expect(await client.settle()).to.deep.equal(['550 5.7.1 Message rejected', '250 2.0.0 Message accepted'])
    })

    it('answers a LAST chunk once per recipient when an earlier chunk was refused', async () => {
      const client = new SmtpDriver({ domain: 'mx.test', lmtp: true, maxMessageSize: 2 })
      await client.connect()
      await client.send('LHLO c.test', 'MAIL FROM:<a@b.test>', 'RCPT TO:<one@mx.test>', 'RCPT TO:<two@mx.test>')
      client.write('BDAT 3\r\nabcBDAT 1 LAST\r\nd' + crlf('MAIL FROM:<a@b.test>'))
      expect(await client.settle()).to.deep.equal([
        '552 5.3.4 Message size exceeds fixed maximum message size',
        '552 5.3.4 Message size exceeds fixed maximum message size',
        '552 5.3.4 Message size exceeds fixed maximum message size',
        '250 2.1.0 Sender OK',
      ])
    })

    it('names LMTP in the Received header', async () => {
      const smtp = new SmtpProtocol({ domain: 'mx.test', lmtp: true, addReceivedHeader: true })
      let body = ''
      smtp.on('message', (e) => void (body = String(e.body)))
      const client = new SmtpDriver(smtp)
      await client.connect()
      client.write(crlf('LHLO c.test', 'MAIL FROM:<a@b.test>', 'RCPT TO:<x@mx.test>', 'DATA', 'hi', '.'))
      await client.settle()
      expect(body).to.match(/\tby mx\.test \(smtpwire\) with LMTP id /)
    })
  })
})
