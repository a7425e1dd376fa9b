import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderReadme } from '../../tools/docs/readme-tables';

describe('README', () => {
  const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');
  it('has the option and error tables the code defines (run `npm run docs` to update)', () => {
    expect(readme).toBe(renderReadme(readme));
  });
  it('shows the same test command that .ci/run runs', () => {
    const ci = readFileSync(join(__dirname, '..', '..', '.ci', 'run'), 'utf8');
    const command = ci.trim().split('\n').pop()!;
    expect(readme).toContain(`\n${command}\n`);
  });
});
