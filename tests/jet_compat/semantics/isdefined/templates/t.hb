{{#if (isdefined maybe)}}maybe={{maybe}}{{else}}no maybe{{/if}} {{#if (isdefined present)}}present{{/if}}
