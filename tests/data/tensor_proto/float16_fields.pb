
*	€x€‚ÿ÷Bfloat16_fields