// Prints the README's worked-example tables from the real allocator.
import { workedExamplesMarkdown } from '../nodes/core/allocate/worked-examples';

console.log(workedExamplesMarkdown());
