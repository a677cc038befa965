"""book_code: the tested code of the book *Self-Attention and Transformers, Executable*.

Each module holds one concept and is printed, section by section, in the chapter that
teaches it. See the API reference in the book for every public name.
"""

__version__ = "0.1.0"
