import { expect } from 'chai'
import type { LineEndingPolicy } from '../../lib/dot-decoder.js'
import { startAt } from '../helpers/ladder.js'

// SMTP smuggling (December 2023): a client hides a second message behind a sequence that some
// server mistakes for the end of the data. Only CRLF.CRLF may end it (RFC 5321 §4.1.1.4).
const FAKE_ENDS = ['\n.\n', '\r.\r', '\r\n.\n', '\n.\r\n', '\r.\r\n', '\r\n.\r']
const SMUGGLED = 'MAIL FROM:<admin@victim.test>\r\nRCPT TO:<ceo@victim.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nsecond\r\n'
const POLICIES: LineEndingPolicy[] = ['reject', 'normalize', 'keep']

describe('SmtpProtocol', () => {
  describe('SMTP smuggling', () => {
    for (const policy of POLICIES) {
      for (const fake of FAKE_ENDS) {
        it(`never lets ${JSON.stringify(fake)} end a message or start a second one (lineEndings: ${policy})`, async () => {
          const senders: string[] = []
          const bodies: string[] = []
          const { client } = await startAt('rcpt', { lineEndings: policy }, (smtp) => {
            smtp.on('sender', ({ address }) => void senders.push(address?.address ?? ''))
            smtp.on('message', ({ body }) => void bodies.push(String(body)))
          })
          await client.send('DATA')
          client.write(`Subject: first\r\n\r\nfirst${fake}${SMUGGLED}.\r\nNOOP\r\n`)
          const replies = await client.settle()
          // exactly one answer to the one DATA, then the NOOP: nothing smuggled ran as a command
          expect(replies).to.have.length(2)
          expect(replies[1]).to.equal('250 2.0.0 OK')
          expect(senders, 'only the real sender, none smuggled').to.deep.equal(['sender@client.test'])
          if (policy === 'reject') {
            expect(replies[0]).to.equal('550 5.6.0 Message contains a bare CR or LF, line endings must be CRLF')
            expect(bodies).to.deep.equal([])
          } else {
            expect(replies[0]).to.equal('250 2.0.0 Message accepted')
            expect(bodies).to.have.length(1)
            expect(bodies[0]).to.include('MAIL FROM:<admin@victim.test>')
            if (policy === 'normalize') expect(bodies[0]).to.not.match(/\r(?!\n)|(?<!\r)\n/)
          }
        })
      }
    }

    it('applies the policy to command lines too: a bare LF line is refused under reject', async () => {
      for (const policy of POLICIES) {
        const { client } = await startAt('ehlo', { lineEndings: policy })
        client.write('MAIL FROM:<a@b.test>\nRCPT TO:<c@d.test>\r\n')
        const replies = await client.settle()
        expect(replies, policy).to.deep.equal(
          policy === 'reject'
            ? ['500 5.5.2 Bare CR or LF in command line, use CRLF', '503 5.5.1 Need MAIL command first']
            : ['250 2.1.0 Sender OK', '250 2.1.5 Recipient OK'],
        )
      }
    })

    it('reads a BDAT chunk by its count, so an end marker inside it is only data', async () => {
      const senders: string[] = []
      const { client } = await startAt('rcpt', {}, (smtp) => smtp.on('sender', ({ address }) => void senders.push(address?.address ?? '')))
      const chunk = `first\r\n.\r\n${SMUGGLED}.\r\n`
      client.write(`BDAT ${chunk.length} LAST\r\n${chunk}NOOP\r\n`)
      expect(await client.settle()).to.deep.equal(['250 2.0.0 Message accepted', '250 2.0.0 OK'])
      expect(senders, 'only the real sender, none smuggled').to.deep.equal(['sender@client.test'])
    })
  })
})
