{{#each xs}}{{#if (eq this 1)}}one{{else}}{{to_upper_case (trim "  x ")}}{{/if}}{{/each}}
{{!-- comment {{ --}}{{{{raw}}}}{{not parsed}}{{{{/raw}}}}
{{#*inline "row"}}{{a}}{{/inline}}{{> row}} \{{escaped}}
{{#if (isdefined "maybe")}}{{maybe}}{{/if}} [{{a}}] ({{ENV_X}})
