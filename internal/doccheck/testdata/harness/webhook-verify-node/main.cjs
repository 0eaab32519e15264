// Harness of the README's Node.js webhook verification: verify (the
// example) must accept every real delivery of a duet server, and refuse
// each one with its body changed or checked with another secret. Headers
// come lower-cased, one value each, as Node.js gives them.
//snippet:here

const fs = require('fs');
const { secret, deliveries } = JSON.parse(fs.readFileSync(process.env.DUET_DOC_DELIVERIES, 'utf8'));
if (!deliveries || deliveries.length === 0) {
  console.log('no deliveries');
  process.exit(1);
}
for (const d of deliveries) {
  const headers = {};
  for (const [k, v] of Object.entries(d.headers)) headers[k.toLowerCase()] = v[0];
  if (!verify(secret, headers, Buffer.from(d.body))) {
    console.log('a real delivery was refused:', d.body);
    process.exit(1);
  }
  if (verify(secret, headers, Buffer.from(d.body.replace('"app"', '"App"')))) {
    console.log('a tampered delivery was accepted');
    process.exit(1);
  }
  if (verify('another-secret-0123456789', headers, Buffer.from(d.body))) {
    console.log('a delivery checked with another secret was accepted');
    process.exit(1);
  }
}
console.log(`${deliveries.length} real deliveries verified; tampered ones and another secret refused`);
