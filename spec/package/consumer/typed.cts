// TypeScript as a strict CommonJS consumer compiles it: the import becomes require() of the ES module.
import { SmtpDriver } from 'smtpwire'

async function main(): Promise<void> {
  const client = new SmtpDriver({ domain: 'mx.test', greeting: 'from CommonJS' })
  console.log(await client.connect())
}

void main()
