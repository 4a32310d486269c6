"""Server/workstation-side analysis of forwarded data (numpy + scipy): what a recipient computes from it.

Independent of the transforms on purpose: the evaluation must not grade a transform with its own detector.
"""
