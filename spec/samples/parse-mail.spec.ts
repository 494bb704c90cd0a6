// The mailparser sample as a user runs it: a child process on port 0, a MIME message with
// attachments from nodemailer, and the subject, addresses and attachment names it prints.

import { expect } from 'chai'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import nodemailer from 'nodemailer'

const SAMPLE = fileURLToPath(new URL('../../samples/parse-mail.js', import.meta.url))

describe('samples/parse-mail', function () {
  this.timeout(30000)

  it('prints the subject, addresses and attachment names of each message, after which it answers 250', async () => {
    const child = spawn(process.execPath, [SAMPLE, '--port', '0', '--domain', 'mx.test'])
    let output = ''
    let errors = ''
    let wake: (() => void) | null = null
    child.stdout.on('data', (text: Buffer) => {
      output += text.toString()
      wake?.()
    })
    child.stderr.on('data', (text: Buffer) => (errors += text.toString()))
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    const waitFor = async (pattern: RegExp): Promise<RegExpExecArray> => {
      for (let found = pattern.exec(output); ; found = pattern.exec(output)) {
        if (found) return found
        if (child.exitCode !== null) throw new Error(`the sample exited:\n${output}${errors}`)
        await new Promise<void>((resolve) => (wake = resolve))
      }
    }
    try {
      const port = Number((await waitFor(/^smtpwire listening on 127\.0\.0\.1:(\d+)\n/))[1])
      const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true })
      const info = await transport.sendMail({
        envelope: { from: 'alice@example.net', to: ['bob@example.org', 'carol@example.org'] },
        from: 'Alice Example <alice@example.net>',
        to: 'Bob <bob@example.org>',
        cc: 'carol@example.org',
        subject: 'Quarterly report – über',
        text: 'See attached.',
        attachments: [
          { filename: 'report.csv', content: 'a,b\n1,2\n', contentType: 'text/csv' },
          { filename: 'logo.png', content: Buffer.alloc(300, 7), contentType: 'image/png' },
        ],
      })
      transport.close()
      expect(info.response).to.equal('250 2.0.0 Message accepted')
      // Printed before the 250 was sent, but the pipe may deliver it after the socket did.
      const block = (await waitFor(/^message \S+ from [\s\S]*?Attachments: .*\n/m))[0]
      const lines = block.split('\n')
      expect(lines[0]).to.match(/^message \w+\.\w+ from <alice@example\.net> to <bob@example\.org> <carol@example\.org>$/)
      expect(lines.slice(1)).to.deep.equal([
        '  Subject: Quarterly report – über',
        '  From: "Alice Example" <alice@example.net>',
        '  To: "Bob" <bob@example.org>',
        '  Cc: carol@example.org',
        '  Attachments: report.csv (text/csv, 8 octets), logo.png (image/png, 300 octets)',
        '',
      ])
      child.kill('SIGTERM')
      expect(await exited).to.equal(0)
      expect(errors).to.equal('')
    } finally {
      child.kill('SIGKILL')
    }
  })
})
