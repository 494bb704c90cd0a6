// Drives SmtpProtocol with no socket at all: bytes in with feed(), replies out through a
// transport object. This is how a test, a WebSocket bridge or any other carrier uses the core.
// Run: npm run build && node dist/samples/in-memory.js

import { SmtpProtocol, type SmtpTransport } from '../lib/index.js'

const smtp = new SmtpProtocol({ domain: 'mx.example.org' })

smtp.on('recipient', ({ address }) => address.domain === 'example.org')
smtp.on('message', ({ transaction, body }) => {
  console.log(`-- message from <${transaction.from?.address ?? ''}> (${transaction.size} octets):`)
  console.log(String(body).trimEnd())
  console.log('--')
})

const transport: SmtpTransport = {
  write(chunk) {
    for (const line of chunk.toString().split('\r\n').filter(Boolean)) console.log(`S: ${line}`)
    return true // a real transport returns false when its peer is slow, then calls smtp.drained()
  },
  end() {
    console.log('(server ended the session)')
  },
}

smtp.open(transport, { remoteAddress: '192.0.2.10', remotePort: 50000 })

const client = [
  'EHLO client.example.net',
  'MAIL FROM:<alice@example.net>',
  'RCPT TO:<bob@example.org>',
  'RCPT TO:<eve@elsewhere.test>',
  'DATA',
  'Subject: hello',
  '',
  'Hi Bob!',
  '.',
  'QUIT',
]
for (const line of client) {
  console.log(`C: ${line}`)
  smtp.feed(Buffer.from(`${line}\r\n`))
}
