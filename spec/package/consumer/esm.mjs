// An ES module using the installed package: a real SmtpServer on port 0 and one TCP session.
import { connect } from 'node:net'
import { SmtpError, SmtpServer } from 'smtpwire'

const server = new SmtpServer({ domain: 'mx.test' }, (smtp) => {
  smtp.on('sender', ({ address }) => {
    if (address?.domain === 'spam.test') throw new SmtpError(550, 'Go away', '5.7.1')
  })
})
const { port } = await server.listen(0, '127.0.0.1')
const socket = connect(port, '127.0.0.1')
socket.setEncoding('utf8')
let received = ''
const lines = []
const wanted = ['HELO client.test', 'MAIL FROM:<x@spam.test>', 'QUIT']
socket.on('data', (text) => {
  received += text
  let end
  while ((end = received.indexOf('\r\n')) >= 0) {
    lines.push(received.slice(0, end))
    received = received.slice(end + 2)
    const next = wanted.shift()
    if (next) socket.write(`${next}\r\n`)
  }
})
await new Promise((resolve) => socket.on('close', resolve))
await server.close()
for (const line of lines) console.log(line)
