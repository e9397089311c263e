// Test files in vitest's usual order, except that test/docker/survivors.test.ts comes last: it
// checks that the other Docker tests left alone what they did not create.
import { BaseSequencer, type TestSpecification } from 'vitest/node';

const isLast = (f: TestSpecification) => f.moduleId.endsWith('/test/docker/survivors.test.ts');

export class SurvivorsLastSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    return [...sorted.filter((f) => !isLast(f)), ...sorted.filter(isLast)];
  }
}
