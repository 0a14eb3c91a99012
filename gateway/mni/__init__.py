"""The MNI 2.2.2 hub's message layer: the tolerant reader, the answers the hub builds, and the MNI-E… codes.

Modules: :mod:`names` (namespaces, operations, misspellings, contract paths), :mod:`mtom` (multipart/XOP),
:mod:`schema` (compiled XSD + content model), :mod:`normalise`, :mod:`deviations` (XSD error → named deviation),
:mod:`reader`, :mod:`responses`, :mod:`errors`. The XML itself is read by the shared hardened reader
(:func:`gateway.xml.reader.read_xml` under :func:`~gateway.xml.reader.mni_policy`).
"""
