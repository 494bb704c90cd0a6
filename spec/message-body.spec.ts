import { expect } from 'chai'
import { MessageBody } from '../lib/message-body.js'
import { SmtpProtocol } from '../lib/index.js'

describe('MessageBody', () => {
  const plan = { decoder: { lineEndings: 'reject', maxTextLineLength: 0, dotStuffed: true }, streaming: false, collect: true, headers: null } as const

  it('counts the collected octets as they are added, and forgets them when stopped', () => {
    const body = new MessageBody(plan)
    body.add(Buffer.from('Subject: a\r\n'))
    body.add(Buffer.from('\r\nbody\r\n'))
    expect(body.collectedLength).to.equal(20)
    body.stop()
    expect(body.collectedLength).to.equal(0)
  })

  it('hands a small message that came in one read to dataChunk as a view of that read, not a copy', () => {
    const chunks: Buffer[] = []
    const smtp = new SmtpProtocol({ domain: 'mx.test', collectBody: false })
    smtp.on('dataChunk', ({ chunk }) => void chunks.push(chunk))
    smtp.open({ write: () => true, end: () => undefined })
    smtp.feed(Buffer.from('EHLO c.test\r\nMAIL FROM:<a@example.net>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n'))
    const read = Buffer.from('Subject: a\r\n\r\n' + 'La de da\r\n'.repeat(400) + '.\r\n')
    smtp.feed(read)
    expect(chunks).to.have.length(1)
    const [chunk] = chunks as [Buffer]
    expect(chunk.buffer).to.equal(read.buffer)
    expect(chunk.byteOffset).to.equal(read.byteOffset)
    expect(chunk.equals(read.subarray(0, read.length - 3))).to.equal(true)
  })

  it('copies a message that came in several reads into one Buffer of exactly its octets', () => {
    const chunks: Buffer[] = []
    const smtp = new SmtpProtocol({ domain: 'mx.test', collectBody: false })
    smtp.on('dataChunk', ({ chunk }) => void chunks.push(chunk))
    smtp.open({ write: () => true, end: () => undefined })
    smtp.feed(Buffer.from('EHLO c.test\r\nMAIL FROM:<a@example.net>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n'))
    const text = 'Subject: a\r\n\r\n' + 'La de da\r\n'.repeat(400)
    smtp.feed(Buffer.from(text.slice(0, 2000)))
    smtp.feed(Buffer.from(text.slice(2000) + '.\r\n'))
    expect(chunks).to.have.length(1)
    expect(chunks[0]?.toString()).to.equal(text)
  })

  it('is what bufferedInput reports while a collected message is read', () => {
    const smtp = new SmtpProtocol({ domain: 'mx.test' })
    smtp.open({ write: () => true, end: () => undefined })
    smtp.feed(Buffer.from('EHLO c.test\r\nMAIL FROM:<a@example.net>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n'))
    smtp.feed(Buffer.from('Subject: a\r\n\r\n..body\r\n'))
    // Dot-unstuffed and collected: 21 octets held, nothing else.
    expect(smtp.bufferedInput).to.equal(21)
    smtp.feed(Buffer.from('.\r\n'))
    expect(smtp.bufferedInput).to.equal(0)
  })
})
