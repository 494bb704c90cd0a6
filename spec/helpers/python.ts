// Runs a Python script (for smtplib) and returns what it printed; fails clearly without python3.

import { spawn } from 'node:child_process'
import { requireTool } from './sample-server.js'

/** Runs `script` with python3, passing `args`; resolves with stdout, rejects with stderr on failure. */
export function runPython(script: string, ...args: string[]): Promise<string> {
  requireTool('python3', 'apt-get install python3')
  return new Promise((resolve, reject) => {
    const child = spawn('python3', ['-c', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (text: Buffer) => (out += text.toString()))
    child.stderr.on('data', (text: Buffer) => (err += text.toString()))
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`python3 exited with ${code}: ${err}`))))
  })
}
