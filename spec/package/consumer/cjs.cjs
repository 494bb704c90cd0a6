// A CommonJS module using the installed package through require() (Node.js 20.19 and later).
const { SmtpDriver, SmtpError, SmtpProtocol } = require('smtpwire')
const { version } = require('smtpwire/package.json')

async function main() {
  const smtp = new SmtpProtocol({ domain: 'mx.test' })
  smtp.on('recipient', ({ address }) => {
    if (address.domain !== 'example.org') throw new SmtpError(550, 'Relay access denied', '5.7.1')
  })
  const client = new SmtpDriver(smtp)
  console.log(`smtpwire ${version}`)
  console.log(await client.connect())
  for (const reply of await client.send('EHLO client.test', 'MAIL FROM:<a@b.test>', 'RCPT TO:<x@elsewhere.test>')) {
    console.log(reply.split('\n')[0])
  }
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
